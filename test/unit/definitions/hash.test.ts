import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  definitionsHash,
  parseDefinitionsFile,
  type JobDefinition,
} from '../../../src/definitions/index.js';

const jobsOf = (file: string, text: string) => {
  const result = parseDefinitionsFile(file, text);
  expect(result.problems).toEqual([]);
  return result.jobs;
};

describe('definitionsHash', () => {
  const a = jobsOf('a.yaml', 'name: a\nschedule: "@hourly"\npayload: { x: 1, y: [1, 2] }\n');
  const b = jobsOf('b.yaml', 'name: b\nschedule: "@daily"\n');

  it('is a sha256 hex digest', () => {
    expect(definitionsHash([...a, ...b])).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores the order of jobs, of keys and where the jobs were defined', () => {
    const moved = jobsOf(
      'elsewhere.yaml',
      '# moved\n\njobs:\n  - payload: { y: [1, 2], x: 1 }\n    schedule: "@hourly"\n    name: a\n',
    );
    expect(definitionsHash([...b, ...moved])).toBe(definitionsHash([...a, ...b]));
  });

  it('changes when a definition changes', () => {
    const changed = jobsOf(
      'a.yaml',
      'name: a\nschedule: "@hourly"\npayload: { x: 2, y: [1, 2] }\n',
    );
    expect(definitionsHash([...changed, ...b])).not.toBe(definitionsHash([...a, ...b]));
    expect(definitionsHash([])).not.toBe(definitionsHash(b));
  });
});

describe('canonicalJson', () => {
  /** The first implementation: replicas of different versions must publish equal hashes. */
  function reference(value: unknown): string {
    if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
    if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
  }

  it('gives the text it always gave, for any JSON-like value', () => {
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, undefined, true, false, 0, -0, 1.5, NaN, Infinity),
        fc.string({ unit: 'binary', maxLength: 6 }),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
    );
  });

  it('hashes jobs as before (sorted canonical texts, source left out)', () => {
    const jobs = [
      ...jobsOf(
        'a.yaml',
        'name: a\nschedule: "@hourly"\npayload: { x: 1, "é": [1, { b: null }] }\n',
      ),
      ...jobsOf(
        'b.yaml',
        'jobs:\n  - name: b\n    schedule: "@daily"\n    tags: [x]\n  - name: c\n    schedule: "* * * * * *"\n',
      ),
    ];
    const texts = jobs
      .map(({ source: _source, ...rest }) => reference(rest))
      .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const expected = createHash('sha256')
      .update(`[${texts.join(',')}]`)
      .digest('hex');
    expect(definitionsHash(jobs)).toBe(expected);
  });
});

describe('definitionsHash order', () => {
  /** What the hash always was: the sorted canonical texts, joined, in one digest. */
  function expected(jobs: readonly object[]): string {
    const texts = jobs
      .map((job) => {
        const rest: Record<string, unknown> = { ...job };
        delete rest.source;
        return canonicalJson(rest);
      })
      .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    return createHash('sha256')
      .update(`[${texts.join(',')}]`)
      .digest('hex');
  }

  it('orders jobs as their whole texts would, whatever values they share or not', () => {
    // Values whose texts are prefixes of each other (1 and 10, "a" and "ab"), need escapes,
    // are missing (undefined), or are shared objects: each takes the comparison down another path.
    const shared = { attempts: 1 };
    const scalar = fc.constantFrom<unknown>(
      undefined,
      1,
      10,
      'a',
      'ab',
      'a"',
      'a\\b',
      '\ud83d\ude00',
      '\ud800',
    );
    const value = fc.oneof(
      scalar,
      fc.constant(shared),
      fc.array(scalar, { maxLength: 2 }),
      fc.dictionary(fc.constantFrom('x', 'y', 'xy'), scalar, { maxKeys: 2 }),
    );
    const job = fc
      .record(
        {
          name: fc.constantFrom('a', 'ab', 'b'),
          handler: value,
          payload: value,
          // Last: the text after its value is `}` (after `1` in one job, `0` in another's `10`).
          zz: fc.constantFrom<unknown>(1, 10, 1.5, 'a', 'ab', shared, [1], [1, 2]),
          source: fc.constant({ file: 'x.yaml', line: 1, col: 1 }),
        },
        { requiredKeys: ['name', 'zz', 'source'] },
      )
      .map((j) => j as unknown as JobDefinition);
    fc.assert(
      fc.property(fc.array(job, { maxLength: 8 }), (jobs) => {
        expect(definitionsHash(jobs)).toBe(expected(jobs));
      }),
      { numRuns: 2000 },
    );
  });
});
