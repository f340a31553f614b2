import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import {
  canonicalToken,
  compareTokens,
  defineHandler,
  HandlerRegistry,
  loadHandlerModules,
  loadHandlersDir,
} from '../../../src/worker/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('fencing tokens', () => {
  it('compare as big integers, not as strings or doubles', () => {
    expect(compareTokens('10', '9')).toBeGreaterThan(0);
    expect(compareTokens('9007199254740993', '9007199254740992')).toBeGreaterThan(0);
    expect(compareTokens('42', '42')).toBe(0);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        (a, b) => {
          const c = compareTokens(a.toString(), b.toString());
          expect(Math.sign(c)).toBe(a < b ? -1 : a > b ? 1 : 0);
        },
      ),
    );
  });

  it('accept only decimal strings, without leading zeros', () => {
    expect(canonicalToken('007')).toBe('7');
    expect(canonicalToken('0')).toBe('0');
    for (const bad of [7, '', '-1', '1.5', '1e3', ' 1', null, undefined]) {
      expect(canonicalToken(bad)).toBeNull();
    }
  });
});

describe('handler registry and modules', () => {
  it('refuses duplicates and non-handlers', () => {
    const r = new HandlerRegistry([defineHandler('a', async () => 1)]);
    expect(() => r.register(defineHandler('a', async () => 2))).toThrow(UsageError);
    expect(() => r.register({ name: 'x' } as never)).toThrow(/defineHandler/);
    expect(r.names()).toEqual(['a']);
    expect(r.get('b')).toBeUndefined();
  });

  it('loads `handlers` exports and names a module that has none', async () => {
    const fixture = path.resolve(here, '../../fixtures/handlers/blocking.mjs');
    const handlers = await loadHandlerModules([fixture]);
    expect(handlers.map((h) => h.name)).toEqual(['blocker']);
    await expect(loadHandlerModules([path.resolve(here, 'nope.mjs')])).rejects.toThrow(
      /cannot load handlers module .*nope\.mjs/,
    );
    await expect(
      loadHandlerModules([path.resolve(here, '../../../src/version.ts')]),
    ).rejects.toThrow(/must export "handlers"/);
  });

  it('loads a handlers folder from its index.js, and says what is wrong with one that has none', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'baton-handlers-'));
    try {
      const dir = path.join(root, 'handlers');
      await mkdir(dir);
      await expect(loadHandlersDir(dir)).rejects.toThrow(
        `handlers folder ${dir} has no index.js: it needs an index.js exporting "handlers"`,
      );
      await expect(loadHandlersDir(path.join(root, 'nope'))).rejects.toThrow(/nope does not exist/);
      expect(await loadHandlersDir(path.join(root, 'nope'), { optional: true })).toEqual([]);
      await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
      await writeFile(
        path.join(dir, 'index.js'),
        "export const handlers = [{ name: 'from-dir', run: async () => 1 }];",
      );
      expect((await loadHandlersDir(dir)).map((h) => h.name)).toEqual(['from-dir']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
