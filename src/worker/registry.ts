import { UsageError } from '../errors.js';
import type { Handler } from './handler.js';

/** True for a value shaped like a {@link Handler}: `{ name: string, run: function }`. */
export function isHandler(value: unknown): value is Handler {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Handler).name === 'string' &&
    (value as Handler).name !== '' &&
    typeof (value as Handler).run === 'function'
  );
}

/**
 * Handlers by name. A worker runs a job with the handler named by the job's `handler` (default:
 * the job name); a run whose handler is not registered fails without retry ("unknown handler").
 */
export class HandlerRegistry {
  private readonly handlers = new Map<string, Handler>();

  constructor(handlers: Iterable<Handler> = []) {
    for (const h of handlers) this.register(h);
  }

  /** Adds a handler. @throws UsageError when the value is not a handler or the name is taken. */
  register(handler: Handler): this {
    if (!isHandler(handler)) {
      throw new UsageError(
        'a handler must be an object { name: string, run(ctx) } (defineHandler)',
      );
    }
    if (this.handlers.has(handler.name)) {
      throw new UsageError(`handler "${handler.name}" is registered twice`);
    }
    this.handlers.set(handler.name, handler as Handler);
    return this;
  }

  get(name: string): Handler | undefined {
    return this.handlers.get(name);
  }

  has(name: string): boolean {
    return this.handlers.has(name);
  }

  names(): string[] {
    return [...this.handlers.keys()].sort();
  }
}
