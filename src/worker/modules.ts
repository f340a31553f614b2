import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../errors.js';
import type { Handler } from './handler.js';
import { isHandler } from './registry.js';

/**
 * The example handlers built with the project (`jobs/handlers/index.ts` -> `dist/jobs/handlers/
 * index.js`, next to `dist/src/`). Absent when running from sources or before they exist.
 */
export const EXAMPLE_HANDLERS_MODULE = fileURLToPath(
  new URL('../../jobs/handlers/index.js', import.meta.url),
);

/** True when the built example handlers module exists. */
export function exampleHandlersAvailable(): boolean {
  return existsSync(EXAMPLE_HANDLERS_MODULE);
}

function handlersOf(mod: Record<string, unknown>, where: string): Handler[] {
  const candidate = mod.handlers ?? mod.default;
  const list = Array.isArray(candidate) ? (candidate as unknown[]) : [candidate];
  if (candidate === undefined || list.length === 0 || !list.every(isHandler)) {
    throw new UsageError(
      `${where} must export "handlers" (or a default export): an array of handlers made with defineHandler(name, run)`,
    );
  }
  return list as Handler[];
}

/**
 * Imports handler modules (paths relative to the working directory, or file URLs). Each must
 * export `handlers` or a default export: a Handler or an array of them.
 * @throws UsageError naming the module that cannot be loaded or exports no handlers.
 */
export async function loadHandlerModules(modules: readonly string[]): Promise<Handler[]> {
  const out: Handler[] = [];
  for (const spec of modules) {
    const url = spec.startsWith('file:') ? spec : pathToFileURL(path.resolve(spec)).href;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`cannot load handlers module ${spec}: ${(err as Error).message}`);
    }
    out.push(...handlersOf(mod, `handlers module ${spec}`));
  }
  return out;
}
