// `npm run chaos -- --faults N --seed S [--duration 5m] [--fsync everysec|always] [--lease-ttl 2]`
// Runs the chaos suite once against real etcd, Redis and baton processes (see docs/testing.md),
// writes report.json and summary.md under test-results/chaos/, prints the seed, and exits 1 when
// an invariant was violated.
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/definitions/index.js';
import { stopAllProcesses } from '../helpers/process.js';
import { runChaos } from './lib/run.js';

const { values } = parseArgs({
  options: {
    faults: { type: 'string', default: '60' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    fsync: { type: 'string', default: 'everysec' },
    'lease-ttl': { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});

const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const faults = Number(values.faults);
if (!Number.isInteger(seed) || !Number.isInteger(faults) || faults < 1) {
  console.error(
    'usage: npm run chaos -- --faults N --seed S [--duration 5m] [--fsync everysec|always]',
  );
  process.exit(2);
}
if (values.fsync !== 'everysec' && values.fsync !== 'always') {
  console.error('--fsync must be everysec or always');
  process.exit(2);
}
console.log(`chaos seed ${seed}`);
try {
  const report = await runChaos({
    seed,
    faults,
    durationMs: values.duration ? parseDuration(values.duration, '--duration') : undefined,
    fsync: values.fsync,
    leaseTtl: Number(values['lease-ttl']),
    outDir: values.out,
    print: (line) => console.log(line),
  });
  console.log(`\n${report.dir}/summary.md:\n`);
  const { readFileSync } = await import('node:fs');
  console.log(readFileSync(`${report.dir}/summary.md`, 'utf8').split('\n## Fault log')[0]);
  console.log(`chaos seed ${seed}: ${report.passed ? 'passed' : 'FAILED'}`);
  process.exitCode = report.passed ? 0 : 1;
} finally {
  await stopAllProcesses();
}
