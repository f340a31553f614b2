import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DurationError, parseDuration } from '../definitions/index.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import {
  HandlerRegistry,
  loadHandlerModules,
  loadHandlersDir,
  startWorker,
} from '../worker/index.js';
import { configOf } from './output.js';

interface WorkerFlags {
  id?: string;
  queues?: string;
  concurrency: string;
  handlers?: string[];
  handlersDir?: string;
  examples: boolean;
  grace: string;
  lockDuration: string;
  stalledInterval: string;
}

/**
 * The default handlers folder: the example handlers built with baton (`dist/jobs/handlers`, next
 * to `dist/src/`). Absent when running from sources.
 */
export const EXAMPLE_HANDLERS_DIR = fileURLToPath(new URL('../../jobs/handlers', import.meta.url));

function duration(flag: string, text: string, min: number): number {
  let ms: number;
  try {
    ms = parseDuration(text, flag);
  } catch (err) {
    if (err instanceof DurationError) throw new UsageError(err.message);
    throw err;
  }
  if (ms < min) throw new UsageError(`${flag} must be at least ${min}ms, got "${text}"`);
  return ms;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run handlers for the queued runs (BullMQ), behind the fencing check')
    .option('--id <id>', 'worker id in history and logs (env BATON_ID, default <hostname>-<pid>)')
    .option('--queues <names>', 'comma-separated queues (default: every queue of the definitions)')
    .option('--concurrency <n>', 'runs at once, per queue', '5')
    .option(
      '--handlers <modules...>',
      'handler modules exporting `handlers` (or a default export): Handler[]',
    )
    .option(
      '--handlers-dir <dir>',
      'folder whose index.js exports more handlers, for names --handlers leaves free (env BATON_HANDLERS_DIR, default: the examples built with baton)',
    )
    .option('--no-examples', 'without --handlers-dir: do not load the example handlers')
    .option('--grace <duration>', 'on SIGTERM, wait this long for running handlers', '30s')
    .option(
      '--lock-duration <duration>',
      'BullMQ lock: a silent worker is presumed dead after',
      '30s',
    )
    .option('--stalled-interval <duration>', 'how often to look for runs of dead workers', '30s')
    .action(async (opts: WorkerFlags, cmd: Command) => {
      const config = configOf(cmd);
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
        throw new UsageError(
          `--concurrency must be a whole number from 1 to 1000, got "${opts.concurrency}"`,
        );
      }
      const queues = opts.queues
        ?.split(',')
        .map((q) => q.trim())
        .filter((q) => q !== '');
      const shutdownGraceMs = duration('--grace', opts.grace, 0);
      const lockDurationMs = duration('--lock-duration', opts.lockDuration, 100);
      const stalledIntervalMs = duration('--stalled-interval', opts.stalledInterval, 100);
      const logger = createLogger();

      // Handlers: the modules given, then the handlers folder's for names not taken by them:
      // --handlers-dir, else BATON_HANDLERS_DIR, else the examples built with baton.
      const registry = new HandlerRegistry(await loadHandlerModules(opts.handlers ?? []));
      const dir = opts.handlersDir ?? (process.env.BATON_HANDLERS_DIR || undefined);
      const folder =
        dir !== undefined
          ? await loadHandlersDir(dir)
          : opts.examples
            ? await loadHandlersDir(EXAMPLE_HANDLERS_DIR, { optional: true })
            : [];
      for (const h of folder) if (!registry.has(h.name)) registry.register(h);
      if (registry.names().length === 0) {
        logger.warn('no handlers registered: every run will fail as "unknown handler"');
      }

      const worker = await startWorker({
        config,
        queues: queues && queues.length > 0 ? queues : undefined,
        handlers: registry,
        concurrency,
        shutdownGraceMs,
        lockDurationMs,
        stalledIntervalMs,
        logger,
      });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          void worker.close().then(resolve, resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      // A handler that ignored its aborted signal may still hold the event loop: leave anyway.
      setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
    });
}
