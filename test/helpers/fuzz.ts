import fc from 'fast-check';

/**
 * How many cases a property-based fuzz test runs: its bounded default inside `npm test`, or
 * `FUZZ_RUNS` when set (`npm run fuzz` sets it for a longer run). `FUZZ_SEED` replays a run.
 */
export function fuzzRuns(defaultRuns: number): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : defaultRuns;
}

/** fast-check parameters for a fuzz test: runs as above, the seed from FUZZ_SEED when given. */
export function fuzzParams(defaultRuns: number): fc.Parameters<unknown> {
  const seed = Number(process.env.FUZZ_SEED);
  return {
    numRuns: fuzzRuns(defaultRuns),
    ...(Number.isInteger(seed) ? { seed } : {}),
  };
}

/** Time a fuzz test may take: proportional to its runs (for the longer mode). */
export function fuzzTimeout(defaultRuns: number, msPerRun: number, floorMs = 30_000): number {
  return Math.max(floorMs, fuzzRuns(defaultRuns) * msPerRun);
}

// eslint-disable-next-line no-control-regex
export const RAW_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u0080-\u009f]/;

/** Strings a hostile user types: control characters, quotes, YAML and URL syntax, long runs. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    '',
    ' ',
    '\r',
    '\u001b[2J',
    '\u0000',
    '\u2028',
    '*',
    '&a',
    '*a',
    '? [a]',
    '{',
    '[',
    '"',
    "'",
    '%E0%A4%A',
    '%00',
    '../..',
    '__proto__',
    'constructor',
    '-1',
    '1e309',
    'NaN',
    '9999-12-31T23:59:59Z',
    '2024-01-01T00:00:00+25:00',
    'Europe/Londn',
    'lates',
  ),
  fc
    .tuple(fc.constantFrom('a', 'x', '\r', '[', 'é', '0'), fc.integer({ min: 100, max: 20_000 }))
    .map(([c, n]) => c.repeat(n)),
);
