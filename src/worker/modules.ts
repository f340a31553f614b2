import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../errors.js';
import type { Handler } from './handler.js';
import { isHandler } from './registry.js';

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

/** The module a handlers folder is loaded from: its `index.js`. */
export function handlersDirModule(dir: string): string {
  return path.join(path.resolve(dir), 'index.js');
}

/**
 * The handlers of a folder: its `index.js` must export `handlers` (or a default export), as
 * {@link loadHandlerModules} requires. A folder without `index.js` gives no handlers when
 * `optional`, else a UsageError naming the folder.
 */
export async function loadHandlersDir(
  dir: string,
  options: { optional?: boolean } = {},
): Promise<Handler[]> {
  const entry = handlersDirModule(dir);
  if (!existsSync(entry)) {
    if (options.optional) return [];
    const what =
      existsSync(dir) && statSync(dir).isDirectory() ? 'has no index.js' : 'does not exist';
    throw new UsageError(
      `handlers folder ${dir} ${what}: it needs an index.js exporting "handlers" (built JavaScript)`,
    );
  }
  return loadHandlerModules([entry]);
}
