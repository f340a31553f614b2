/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  const at = (i: number, j: number): number => d[i]![j]!;
  for (let i = 0; i < rows; i++) d[i]![0] = i;
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, at(i - 2, j - 2) + 1);
      }
      d[i]![j] = v;
    }
  }
  return at(rows - 1, cols - 1);
}

const normalize = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');

/** Inputs longer than this get no suggestion: a typo of a key, zone or keyword is short. */
export const MAX_SUGGEST_INPUT = 64;
/** At most this many candidates are compared (the ~600 IANA zones fit). */
export const MAX_SUGGEST_CANDIDATES = 2000;

/**
 * The candidate closest to `input` when it is close enough to be a likely typo (same letters
 * ignoring case, `-` and `_`; or within 1 edit for short words, 2 for words of 5+ characters,
 * 3 for 12+), else undefined. Bounded work: an input longer than {@link MAX_SUGGEST_INPUT}
 * characters gets no suggestion, candidates whose length alone rules them out are not compared,
 * and at most {@link MAX_SUGGEST_CANDIDATES} candidates are looked at.
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  if (input.length > MAX_SUGGEST_INPUT) return undefined;
  const norm = normalize(input);
  if (norm === '') return undefined;
  const limit = norm.length >= 12 ? 3 : norm.length >= 5 ? 2 : 1;
  let best: string | undefined;
  let bestDistance = Infinity;
  const n = Math.min(candidates.length, MAX_SUGGEST_CANDIDATES);
  for (let i = 0; i < n; i++) {
    const candidate = candidates[i]!;
    if (candidate === input || candidate.length > MAX_SUGGEST_INPUT) continue;
    const other = normalize(candidate);
    if (Math.abs(other.length - norm.length) > limit) continue;
    const distance = other === norm ? 0 : editDistance(norm, other);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
