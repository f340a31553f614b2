import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseDefinitionsFile } from '../../../src/definitions/index.js';
import { MAX_MESSAGE_LENGTH } from '../../../src/definitions/limits.js';
import { MAX_PROBLEMS_PER_FILE } from '../../../src/definitions/parse.js';
import { formatProblem } from '../../../src/errors.js';
import { fuzzParams, fuzzTimeout, hostileString, RAW_CONTROL } from '../../helpers/fuzz.js';

// Property-based fuzzing of job definitions (issue 9). Would have found: the alias silent drop,
// the did-you-mean hangs, unbounded and raw-control-character messages, stack overflows on deep
// nesting, complex keys at 1:1 and yaml's warning on stderr.

afterEach(() => vi.restoreAllMocks());

const q = (s: string): string => JSON.stringify(s);

/** A YAML value: valid, hostile, nested, aliased. */
const value: fc.Arbitrary<string> = fc.oneof(
  hostileString.map(q),
  fc.constantFrom("'* * * * *'", '@daily', 'UTC', 'latest', '30s', '1', 'null', 'true', '[]', '{}'),
  fc.integer({ min: 0, max: 2000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 0, max: 200 }).map((n) => `${'{a: '.repeat(n)}1${'}'.repeat(n)}`),
  fc.constant('*anchor'),
);

const KEYS = ['name', 'schedule', 'timezone', 'payload', 'catchUp', 'jitter', 'retries', 'tags'];
const key: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...KEYS),
  hostileString.filter((s) => s.length < 200).map(q),
  fc.constantFrom('? [a, b]\n ', '? {a: 1}\n ', '*anchor'),
);

/** One job as a flow mapping: a name from a small set (so duplicates happen), other pairs. */
const job: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('a', 'b', 'c'),
    fc.boolean(),
    fc.array(fc.tuple(key, value), { maxLength: 4 }),
    fc.boolean(),
  )
  .map(([name, anchor, pairs, withSchedule]) => {
    const all = [`name: ${name}`, ...(withSchedule ? ["schedule: '@daily'"] : [])];
    for (const [k, v] of pairs) all.push(`${k}: ${v}`);
    return `${anchor ? '&anchor ' : ''}{${all.join(', ')}}`;
  });

const file: fc.Arbitrary<{ text: string; listed: number }> = fc.oneof(
  // A jobs: list, some entries aliases of an anchored one.
  fc
    .array(
      fc.oneof({ weight: 4, arbitrary: job }, { weight: 1, arbitrary: fc.constant('*anchor') }),
      {
        maxLength: 8,
      },
    )
    .map((jobs) => ({
      text: `jobs:${jobs.length === 0 ? ' []' : ''}\n${jobs.map((j) => `  - ${j}\n`).join('')}`,
      listed: jobs.length,
    })),
  // One job as the whole file.
  job.map((j) => ({ text: `${j}\n`, listed: 1 })),
  // Anything at all.
  fc.string({ maxLength: 300 }).map((text) => ({ text, listed: -1 })),
);

describe('definitions fuzz', () => {
  it(
    'never throws or warns; every problem is located, short and printable; no job goes missing silently',
    () => {
      const warn = vi.spyOn(process, 'emitWarning');
      fc.assert(
        fc.property(file, ({ text, listed }) => {
          const r = parseDefinitionsFile('f.yaml', text);
          expect(r.problems.length).toBeLessThanOrEqual(MAX_PROBLEMS_PER_FILE + 1);
          for (const p of r.problems) {
            expect(p.line).toBeGreaterThanOrEqual(1);
            expect(p.col).toBeGreaterThanOrEqual(1);
            expect(p.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH + 1);
            expect(p.message).not.toMatch(/call stack/i);
            expect(formatProblem(p)).not.toMatch(RAW_CONTROL);
          }
          // A file without a problem yields every job it lists, with distinct names.
          if (r.problems.length === 0) {
            if (listed >= 0) expect(r.jobs).toHaveLength(listed);
            expect(new Set(r.jobs.map((j) => j.name)).size).toBe(r.jobs.length);
            expect(r.jobs.length).toBeGreaterThan(0);
          }
        }),
        fuzzParams(300),
      );
      expect(warn).not.toHaveBeenCalled();
    },
    fuzzTimeout(300, 100),
  );
});
