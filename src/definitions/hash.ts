import { createHash } from 'node:crypto';
import type { JobDefinition } from './types.js';

/** Strings JSON.stringify would change beyond adding quotes: quotes, backslashes, controls, surrogates. */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON of a string: most need only their quotes (names, schedules, keys). */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** {@link canonicalJson} of an object, leaving out the key `skip` (and undefined values). */
function canonicalObject(value: object, skip: string | null): string {
  // Object.keys(...).sort() orders by UTF-16 code units, as `a < b` does.
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const key of keys) {
    if (key === skip) continue;
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
  return canonicalObject(value, null);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Object values whose text is kept during one {@link definitionsHash} (by identity). */
const MAX_CACHED_VALUES = 10_000;

/**
 * The order of jobs by their canonical text (`canonicalObject(job, 'source')`) without holding
 * those texts: 100,000 jobs make ~45 MB of them, and building them all at once is most of the
 * peak memory of a replica's start. Two jobs are compared key by key: jobs share most values
 * (the same string, or the same frozen default object), so the first key whose values differ
 * decides, from the texts of those two values alone. When that is not enough (a different set of
 * keys, or one value's text a prefix of the other's), both jobs' whole texts decide.
 */
function canonicalOrder(jobs: readonly JobDefinition[]): number[] {
  // Sorted keys (without `source`) per key list: jobs made by one validator share a few lists.
  const byKeyList = new Map<string, readonly string[]>();
  const keysOf = jobs.map((job) => {
    const keys = Object.keys(job);
    const id = keys.join('\u0000');
    let sorted = byKeyList.get(id);
    if (sorted === undefined) {
      sorted = keys.filter((k) => k !== 'source').sort();
      byKeyList.set(id, sorted);
    }
    return sorted;
  });
  const cache = new Map<object, string>();
  const text = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return canonicalJson(v);
    let t = cache.get(v);
    if (t === undefined) {
      t = canonicalJson(v);
      if (cache.size < MAX_CACHED_VALUES) cache.set(v, t);
    }
    return t;
  };
  const whole = (i: number, j: number) =>
    compareStrings(canonicalObject(jobs[i]!, 'source'), canonicalObject(jobs[j]!, 'source'));
  const order = jobs.map((_, i) => i);
  return order.sort((i, j) => {
    const keys = keysOf[i]!;
    if (keys !== keysOf[j]) return whole(i, j);
    const a = jobs[i] as unknown as Record<string, unknown>;
    const b = jobs[j] as unknown as Record<string, unknown>;
    for (const key of keys) {
      const va = a[key];
      const vb = b[key];
      if (va === vb) continue; // same value, same text (both undefined: both left out)
      if (va === undefined || vb === undefined) return whole(i, j);
      const ta = text(va);
      const tb = text(vb);
      if (ta === tb) continue;
      // The texts so far are equal; the first differing character decides, unless one value's
      // text is a prefix of the other's (`1` and `10`): then what follows it does.
      if (ta.startsWith(tb) || tb.startsWith(ta)) return whole(i, j);
      return ta < tb ? -1 : 1;
    }
    return 0;
  });
}

/**
 * sha256 (hex) of the definitions as they behave: jobs in a fixed order, keys sorted, `source`
 * left out — so moving a job to another file or reordering files does not change it. Replicas
 * publish it so operators can see whether every replica runs the same definitions.
 *
 * The digest of `[<job>,<job>,...]`, each job's canonical text, sorted; fed a job at a time, each
 * text made when it is fed (see {@link canonicalOrder}).
 */
export function definitionsHash(jobs: readonly JobDefinition[]): string {
  const hash = createHash('sha256').update('[');
  const order = canonicalOrder(jobs);
  for (let n = 0; n < order.length; n++) {
    if (n > 0) hash.update(',');
    hash.update(canonicalObject(jobs[order[n]!]!, 'source'));
  }
  return hash.update(']').digest('hex');
}
