import { createHash } from 'node:crypto';
import type { JobDefinition } from './types.js';

/** Strings JSON.stringify would change beyond adding quotes: quotes, backslashes, controls, surrogates. */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON of a string: most need only their quotes (names, schedules, keys). */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** {@link canonicalJson} of an object (undefined values left out). */
function canonicalObject(value: object): string {
  // Object.keys(...).sort() orders by UTF-16 code units, as `a < b` does.
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const key of keys) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) parts.push(`${quote(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** JSON with object keys sorted at every level, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  return canonicalObject(value);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Object values whose text is kept during one {@link definitionsHash} (by identity). */
const MAX_CACHED_VALUES = 10_000;

/** A key list of jobs: its keys sorted (without `source`), and each key's `"key":`. */
interface Shape {
  keys: readonly string[];
  heads: readonly string[];
}

/**
 * The jobs' canonical texts (`canonicalJson` of the job without `source`), made one at a time:
 * the sorted keys of each key list (jobs made by one validator share a few) and the text of each
 * object value (jobs share the frozen defaults) are worked out once.
 */
class CanonicalJobs {
  private readonly shapes: Shape[];
  private readonly cache = new Map<object, string>();

  constructor(private readonly jobs: readonly JobDefinition[]) {
    const byKeyList = new Map<string, Shape>();
    this.shapes = jobs.map((job) => {
      const keys = Object.keys(job);
      const id = keys.join('\u0000');
      let shape = byKeyList.get(id);
      if (shape === undefined) {
        const sorted = keys.filter((k) => k !== 'source').sort();
        shape = { keys: sorted, heads: sorted.map((k) => `${quote(k)}:`) };
        byKeyList.set(id, shape);
      }
      return shape;
    });
  }

  /** {@link canonicalJson} of a value, kept for objects. */
  value(v: unknown): string {
    if (v === null || typeof v !== 'object') return canonicalJson(v);
    let t = this.cache.get(v);
    if (t === undefined) {
      t = canonicalJson(v);
      if (this.cache.size < MAX_CACHED_VALUES) this.cache.set(v, t);
    }
    return t;
  }

  /** The canonical text of job `i`. */
  text(i: number): string {
    const { keys, heads } = this.shapes[i]!;
    const job = this.jobs[i] as unknown as Record<string, unknown>;
    let s = '';
    for (let k = 0; k < keys.length; k++) {
      const v = job[keys[k]!];
      if (v === undefined) continue;
      s += `${s === '' ? '' : ','}${heads[k]!}${this.value(v)}`;
    }
    return `{${s}}`;
  }

  /**
   * The order of the jobs by their canonical texts, without holding those texts: 100,000 jobs
   * make ~45 MB of them, and building them all at once was most of the peak memory of a
   * replica's start. Two jobs are compared key by key: jobs share most values (the same string,
   * or the same frozen default object), so the first key whose values differ decides, from the
   * texts of those two values alone. When that is not enough (a different set of keys, or one
   * value's text a prefix of the other's), both jobs' whole texts decide.
   */
  order(): number[] {
    const whole = (i: number, j: number) => compareStrings(this.text(i), this.text(j));
    return this.jobs
      .map((_, i) => i)
      .sort((i, j) => {
        const keys = this.shapes[i]!.keys;
        if (keys !== this.shapes[j]!.keys) return whole(i, j);
        const a = this.jobs[i] as unknown as Record<string, unknown>;
        const b = this.jobs[j] as unknown as Record<string, unknown>;
        for (const key of keys) {
          const va = a[key];
          const vb = b[key];
          if (va === vb) continue; // same value, same text (both undefined: both left out)
          if (va === undefined || vb === undefined) return whole(i, j);
          const ta = this.value(va);
          const tb = this.value(vb);
          if (ta === tb) continue;
          // The texts so far are equal; the first differing character decides, unless one
          // value's text is a prefix of the other's (`1` and `10`): then what follows it does.
          if (ta.startsWith(tb) || tb.startsWith(ta)) return whole(i, j);
          return ta < tb ? -1 : 1;
        }
        return 0;
      });
  }
}

/**
 * sha256 (hex) of the definitions as they behave: jobs in a fixed order, keys sorted, `source`
 * left out — so moving a job to another file or reordering files does not change it. Replicas
 * publish it so operators can see whether every replica runs the same definitions.
 *
 * The digest of `[<job>,<job>,...]`, each job's canonical text, sorted; fed a job at a time, each
 * text made when it is fed (see {@link CanonicalJobs.order}).
 */
export function definitionsHash(jobs: readonly JobDefinition[]): string {
  const canonical = new CanonicalJobs(jobs);
  const order = canonical.order();
  const hash = createHash('sha256').update('[');
  for (let n = 0; n < order.length; n++) {
    if (n > 0) hash.update(',');
    hash.update(canonical.text(order[n]!));
  }
  return hash.update(']').digest('hex');
}
