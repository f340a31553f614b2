import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/index.js';
import { fuzzParams, fuzzTimeout, hostileString, RAW_CONTROL } from '../../helpers/fuzz.js';

// Property-based fuzzing of the CLI's arguments (issue 9), in-process. Would have found: usage
// errors exiting 1, `--etcd ''` falling back silently, `--from` beyond ±18:00, no output for
// `next --from 9999-…`, and credentials echoed in errors. etcd and Redis are a closed loopback
// port, so network commands fail fast (exit 3); long-running commands are not generated.

afterEach(() => vi.restoreAllMocks());

const SECRET = 'FuzzS3cret';
const COMMANDS = [
  'status',
  'members',
  'jobs',
  'pause',
  'resume',
  'trigger',
  'history',
  'validate',
  'next',
  'help',
  'nope',
];
const FLAGS = [
  '--etcd',
  '--redis',
  '--namespace',
  '--jobs',
  '--queue-prefix',
  '--timeout',
  '--json',
  '--from',
  '--count',
  '--limit',
  '--reason',
  '--payload',
  '--bogus',
  '-x',
];
const url: fc.Arbitrary<string> = fc.constantFrom(
  `redis://:${SECRET}@127.0.0.1:1`,
  `redis://127.0.0.1:1/?password=${SECRET}`,
  `redis://${SECRET}@127.0.0.1:1`,
  `http://root:${SECRET}@127.0.0.1:1`,
  `http://127.0.0.1:1/#${SECRET}`,
);
const arg: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...FLAGS),
  hostileString.filter((s) => s.length < 3000),
  fc.constantFrom('appointment-dialer', 'jobs', 'heartbeat', '1', '0', '-5'),
);
const argv: fc.Arbitrary<string[]> = fc
  .tuple(
    fc.constantFrom(...COMMANDS),
    fc.array(arg, { maxLength: 5 }),
    fc.option(fc.tuple(fc.constantFrom('--redis', '--etcd'), url), { nil: undefined }),
  )
  .map(([cmd, rest, secret]) => [cmd, ...rest, ...(secret ?? [])]);

describe('CLI arguments fuzz', () => {
  it(
    'every run ends with a documented exit code and bounded, printable, secret-free output',
    async () => {
      vi.stubEnv('BATON_ETCD', 'http://127.0.0.1:1');
      vi.stubEnv('BATON_REDIS', 'redis://127.0.0.1:1');
      vi.stubEnv('BATON_TIMEOUT', '1');
      vi.stubEnv('BATON_JOBS', 'jobs');
      await fc.assert(
        fc.asyncProperty(argv, async (args) => {
          let out = '';
          let err = '';
          const o = vi
            .spyOn(process.stdout, 'write')
            .mockImplementation((c) => ((out += String(c)), true));
          const e = vi
            .spyOn(process.stderr, 'write')
            .mockImplementation((c) => ((err += String(c)), true));
          let code: number;
          try {
            code = await main(args);
          } finally {
            o.mockRestore();
            e.mockRestore();
          }
          expect([0, 1, 2, 3, 4, 5]).toContain(code);
          expect(err).not.toContain('internal error');
          expect(err).not.toMatch(/\n\s+at /);
          expect(out + err).not.toContain(SECRET);
          for (const line of err.split('\n')) {
            expect(line).not.toMatch(RAW_CONTROL);
            expect(line.length).toBeLessThan(1100);
          }
        }),
        fuzzParams(40),
      );
      vi.unstubAllEnvs();
    },
    fuzzTimeout(40, 3000, 120_000),
  );
});
