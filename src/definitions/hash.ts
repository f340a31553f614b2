import { createHash } from 'node:crypto';
import type { JobDefinition } from './types.js';

/** JSON with object keys sorted at every level, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * sha256 (hex) of the definitions as they behave: jobs in a fixed order, keys sorted, `source`
 * left out — so moving a job to another file or reordering files does not change it. Replicas
 * publish it so operators can see whether every replica runs the same definitions.
 */
export function definitionsHash(jobs: readonly JobDefinition[]): string {
  const canonical = jobs
    .map(({ source: _source, ...rest }) => canonicalJson(rest))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(`[${canonical.join(',')}]`)
    .digest('hex');
}
