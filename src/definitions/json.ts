import { MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH } from './limits.js';

/** Why a value is not an acceptable JSON payload, and where (path inside the value). */
export type JsonProblem =
  | { kind: 'notJson'; path: (string | number)[]; got: string }
  | { kind: 'depth'; path: (string | number)[] }
  | { kind: 'size'; path: [] };

export interface JsonLimits {
  maxDepth: number;
  maxBytes: number;
}

const DEFAULT_LIMITS: JsonLimits = { maxDepth: MAX_PAYLOAD_DEPTH, maxBytes: MAX_PAYLOAD_BYTES };

function kindOf(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object' && v !== null) return 'an object that is not a plain mapping';
  return typeof v;
}

/**
 * Checks that `value` is plain JSON (null, booleans, strings, finite numbers, lists and plain
 * mappings of those), nested at most `maxDepth` deep, and at most `maxBytes` long as JSON
 * (counted as it is walked, so a huge value is refused without being serialised). Iterative: a
 * value nested 100,000 deep costs no stack. Returns the first problem, or null.
 */
export function checkJson(value: unknown, limits: JsonLimits = DEFAULT_LIMITS): JsonProblem | null {
  interface Item {
    v: unknown;
    depth: number;
    key: string | number | null;
    parent: Item | null;
  }
  const pathOf = (item: Item): (string | number)[] => {
    const out: (string | number)[] = [];
    for (let at: Item | null = item; at !== null && at.key !== null; at = at.parent) {
      out.unshift(at.key);
    }
    return out;
  };
  let bytes = 0;
  const stack: Item[] = [{ v: value, depth: 0, key: null, parent: null }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const { v, depth } = item;
    if (v === null || typeof v === 'boolean') {
      bytes += 5;
    } else if (typeof v === 'string') {
      bytes += Buffer.byteLength(v, 'utf8') + 2;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { kind: 'notJson', path: pathOf(item), got: kindOf(v) };
      bytes += 24;
    } else if (Array.isArray(v)) {
      if (depth + 1 > limits.maxDepth) return { kind: 'depth', path: pathOf(item) };
      bytes += 2 + v.length;
      if (bytes > limits.maxBytes) return { kind: 'size', path: [] };
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ v: v[i], depth: depth + 1, key: i, parent: item });
      }
    } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      if (depth + 1 > limits.maxDepth) return { kind: 'depth', path: pathOf(item) };
      const keys = Object.keys(v);
      bytes += 2;
      for (const k of keys) bytes += Buffer.byteLength(k, 'utf8') + 4;
      if (bytes > limits.maxBytes) return { kind: 'size', path: [] };
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        stack.push({
          v: (v as Record<string, unknown>)[k],
          depth: depth + 1,
          key: k,
          parent: item,
        });
      }
    } else {
      return { kind: 'notJson', path: pathOf(item), got: kindOf(v) };
    }
    if (bytes > limits.maxBytes) return { kind: 'size', path: [] };
  }
  return null;
}

/** One sentence for a {@link JsonProblem} of the value called `label` (e.g. `payload`). */
export function jsonProblemMessage(label: string, p: JsonProblem, limits = DEFAULT_LIMITS): string {
  switch (p.kind) {
    case 'notJson':
      return `${label} must be a JSON value (null, true/false, a string, a finite number, a list or a mapping), got ${p.got}`;
    case 'depth':
      return `${label} is nested too deep (at most ${limits.maxDepth} levels of lists and mappings inside each other)`;
    case 'size':
      return `${label} is too large (at most ${limits.maxBytes} bytes as JSON)`;
  }
}
