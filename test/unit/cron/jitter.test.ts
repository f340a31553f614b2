import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jitterMs } from '../../../src/cron/index.js';

describe('jitterMs', () => {
  const t0 = Date.UTC(2024, 0, 1);

  it('is deterministic: same job and instant, same delay', () => {
    for (let i = 0; i < 50; i++) {
      const at = t0 + i * 60_000;
      expect(jitterMs('dialer', at, 30_000)).toBe(jitterMs('dialer', at, 30_000));
    }
  });

  it('is an integer in [0, max)', () => {
    for (let i = 0; i < 2000; i++) {
      const j = jitterMs(`job-${i % 7}`, t0 + i * 1000, 997);
      expect(Number.isInteger(j)).toBe(true);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(j).toBeLessThan(997);
    }
    expect(jitterMs('a', t0, 1)).toBe(0);
    expect(jitterMs('a', t0, 0.5)).toBe(0);
  });

  it('is 0 without jitter', () => {
    expect(jitterMs('a', t0, 0)).toBe(0);
    expect(jitterMs('a', t0, -10)).toBe(0);
    expect(jitterMs('a', t0, Number.NaN)).toBe(0);
  });

  it('spreads fires: differs between jobs and instants, mean near max/2', () => {
    const values = Array.from({ length: 1000 }, (_, i) =>
      jitterMs('report', t0 + i * 60_000, 1000),
    );
    expect(new Set(values).size).toBeGreaterThan(500);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    // standard error of the mean of U(0, 1000) over 1000 samples is ~9
    expect(mean).toBeGreaterThan(450);
    expect(mean).toBeLessThan(550);
    const perJob = ['a', 'b', 'c', 'd', 'e', 'f'].map((job) => jitterMs(job, t0, 1_000_000));
    expect(new Set(perJob).size).toBe(perJob.length);
  });

  it('follows the documented derivation (stable across versions and replicas)', () => {
    // floor(first 48 bits of sha256("<job>\0<instantMs>") / 2^48 * max)
    const digest = createHash('sha256').update(`nightly\u0000${t0}`).digest();
    const expected = Math.floor((digest.readUIntBE(0, 6) / 2 ** 48) * 60_000);
    expect(jitterMs('nightly', t0, 60_000)).toBe(expected);
  });
});
