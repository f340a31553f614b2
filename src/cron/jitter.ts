import { createHash } from 'node:crypto';

/**
 * Deterministic delay for one fire, an integer in [0, maxJitterMs): derived from a SHA-256 of
 * (job, scheduled instant), so every replica computes the same value and a retried enqueue keeps
 * it. 0 when maxJitterMs <= 0 (or is not a finite number).
 */
export function jitterMs(job: string, instantMs: number, maxJitterMs: number): number {
  if (!Number.isFinite(maxJitterMs) || maxJitterMs <= 0) return 0;
  const digest = createHash('sha256').update(`${job}\u0000${instantMs}`).digest();
  // 48 bits of the digest as a fraction in [0, 1).
  const fraction = digest.readUIntBE(0, 6) / 2 ** 48;
  return Math.floor(fraction * maxJitterMs);
}
