/**
 * Fencing tokens are etcd revisions written as decimal strings. They can exceed 2^53, so they are
 * never turned into JS numbers (nor into Lua numbers, which are doubles): compared by length,
 * then lexicographically, after dropping leading zeros.
 */

/** The canonical form of a token (no leading zeros), or null when it is not a decimal string. */
export function canonicalToken(token: unknown): string | null {
  if (typeof token !== 'string' || !/^\d{1,40}$/.test(token)) return null;
  const stripped = token.replace(/^0+(?=\d)/, '');
  return stripped;
}

/** Negative when a < b, 0 when equal, positive when a > b (canonical tokens). */
export function compareTokens(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
