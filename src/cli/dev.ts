import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { resolveConfig } from '../config/index.js';
import { parseDuration } from '../definitions/index.js';
import { UsageError } from '../errors.js';
import { EventBus, type BatonEvent } from '../events/bus.js';
import { silentLogger } from '../log.js';
import { createRedis } from '../redis/connection.js';
import { redisKeysOf } from '../redis/keys.js';
import { paint } from './output.js';

const BIN = fileURLToPath(new URL('../bin/baton.js', import.meta.url));
/** The example dialer's telephony stand-in (example code beside the example jobs). */
const SINK = fileURLToPath(new URL('../../jobs/telephony/main.js', import.meta.url));

interface DevOptions {
  dir: string;
  etcdPort: string;
  redisPort: string;
  httpPort: string;
  sinkPort: string;
  replicas: string;
  workers: string;
  killLeaderEvery?: string;
}

interface Child {
  name: string;
  proc: ChildProcess;
}

/** Which of our binaries exist: dev needs Debian's etcd and redis-server. */
function which(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitPort(port: number, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline)
      throw new UsageError(`${what} did not start on port ${port} (see its log under .baton/dev)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `baton dev`: the whole stack on one machine for a demo or a local try — etcd and Redis from their
 * installed binaries with data under a local folder, scheduler replicas with the dashboard, workers
 * and the telephony sink. Prints leader changes, fires and runs as they happen; Ctrl-C stops every
 * process it started.
 */
export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a local stack: etcd, Redis, 3 scheduler replicas, 2 workers, telephony sink')
    .option('--dir <path>', 'data folder', '.baton/dev')
    .option('--etcd-port <port>', 'etcd client port', '23790')
    .option('--redis-port <port>', 'Redis port', '16379')
    .option('--http-port <port>', 'first replica HTTP port (dashboard); the others follow', '8081')
    .option('--sink-port <port>', 'telephony sink port (the dialer example calls it)', '4010')
    .option('--replicas <n>', 'scheduler replicas', '3')
    .option('--workers <n>', 'workers', '2')
    .option(
      '--kill-leader-every <duration>',
      'kill -9 the leader periodically to show fail-over (e.g. 30s)',
    )
    .action(async (opts: DevOptions, cmd: Command) => {
      const jobs = path.resolve(
        cmd.optsWithGlobals<{ jobs?: string }>().jobs ?? process.env.BATON_JOBS ?? 'jobs',
      );
      const etcdBin = which('etcd');
      const redisBin = which('redis-server');
      if (!etcdBin || !redisBin) {
        throw new UsageError(
          `baton dev needs ${[!etcdBin && 'etcd', !redisBin && 'redis-server'].filter(Boolean).join(' and ')} on PATH (Debian: apt-get install etcd-server redis-server; or run "npm start")`,
        );
      }
      const ports = {
        etcd: Number(opts.etcdPort),
        redis: Number(opts.redisPort),
        http: Number(opts.httpPort),
        sink: Number(opts.sinkPort),
      };
      const replicaCount = Number(opts.replicas);
      const workerCount = Number(opts.workers);
      const killEvery = opts.killLeaderEvery
        ? parseDuration(opts.killLeaderEvery, '--kill-leader-every')
        : null;
      for (const [what, port] of Object.entries(ports)) {
        if (await portOpen(port))
          throw new UsageError(
            `port ${port} (${what}) is already in use; pick another with --${what}-port`,
          );
      }
      const dir = path.resolve(opts.dir);
      mkdirSync(path.join(dir, 'logs'), { recursive: true });
      const children: Child[] = [];
      let stopping = false;
      const setpriv = which('setpriv');

      const start = (
        name: string,
        command: string,
        args: string[],
        env: NodeJS.ProcessEnv = {},
        pipe = false,
      ): Child => {
        const log = openSync(path.join(dir, 'logs', `${name}.log`), 'a');
        // setpriv --pdeathsig: children die with this process even on kill -9 (Linux).
        const [cmdName, cmdArgs] = setpriv
          ? [setpriv, ['--pdeathsig', 'KILL', command, ...args]]
          : [command, args];
        const proc = spawn(cmdName, cmdArgs, {
          stdio: ['ignore', pipe ? 'pipe' : log, log],
          env: { ...process.env, ...env },
        });
        closeSync(log);
        const child = { name, proc };
        children.push(child);
        proc.on('exit', (code, signal) => {
          if (!stopping) console.log(paint(`${name} exited (${signal ?? code})`, 'yellow'));
        });
        if (pipe && proc.stdout) {
          const logFile = path.join(dir, 'logs', `${name}.log`);
          const out = openSync(logFile, 'a');
          createInterface({ input: proc.stdout }).on('line', (line) => {
            // The log file keeps every line; the terminal gets the interesting ones.
            writeSync(out, `${line}\n`);
            try {
              narrate(name, line);
            } catch {
              // a non-JSON line is kept in the log only
            }
          });
        }
        return child;
      };

      let events: EventBus | null = null;
      const stopAll = async () => {
        stopping = true;
        events?.close();
        for (const c of children.reverse()) c.proc.kill('SIGTERM');
        const deadline = Date.now() + 8000;
        while (
          children.some((c) => c.proc.exitCode === null && c.proc.signalCode === null) &&
          Date.now() < deadline
        ) {
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const c of children)
          if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      };

      try {
        console.log(paint(`baton dev: data and logs in ${dir}`, 'bold'));
        start('etcd', etcdBin, [
          '--name',
          'dev',
          '--data-dir',
          path.join(dir, 'etcd'),
          '--listen-client-urls',
          `http://127.0.0.1:${ports.etcd}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${ports.etcd}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${ports.etcd + 10}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${ports.etcd + 10}`,
          '--initial-cluster',
          `dev=http://127.0.0.1:${ports.etcd + 10}`,
        ]);
        start('redis', redisBin, [
          '--port',
          String(ports.redis),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--maxmemory-policy',
          'noeviction',
          '--save',
          '',
        ]);
        await Promise.all([waitPort(ports.etcd, 'etcd'), waitPort(ports.redis, 'redis-server')]);
        // Mutations from the dashboard need a token; a fresh one per run, handed to the page in
        // the URL fragment (never sent to a server, never logged).
        const apiToken = process.env.BATON_API_TOKEN ?? randomBytes(18).toString('base64url');
        const env = {
          BATON_API_TOKEN: apiToken,
          BATON_ETCD: `http://127.0.0.1:${ports.etcd}`,
          BATON_REDIS: `redis://127.0.0.1:${ports.redis}`,
          BATON_JOBS: jobs,
          BATON_LEASE_TTL: process.env.BATON_LEASE_TTL ?? '3',
          // The dialer example calls the sink wherever --sink-port put it.
          BATON_TELEPHONY_URL: `http://127.0.0.1:${ports.sink}`,
        };
        start(
          'telephony-sink',
          process.execPath,
          [SINK, '--port', String(ports.sink), '--file', path.join(dir, 'calls.jsonl')],
          env,
          true,
        );
        for (let i = 1; i <= replicaCount; i++) {
          start(
            `scheduler-${i}`,
            process.execPath,
            [BIN, 'scheduler', '--id', `scheduler-${i}`],
            { ...env, BATON_HTTP: String(ports.http + i - 1) },
            true,
          );
        }
        for (let i = 1; i <= workerCount; i++) {
          start(`worker-${i}`, process.execPath, [BIN, 'worker', '--id', `worker-${i}`], env, true);
        }
        await waitPort(ports.http, 'scheduler-1');
        // Fires, skips and runs as the cluster publishes them (the dashboard's source too).
        const config = resolveConfig({}, { ...process.env, ...env });
        events = new EventBus({
          subscriber: createRedis(config, 'worker'),
          keys: redisKeysOf(config),
          logger: silentLogger(),
        });
        events.listen(narrateEvent);
        events.start();
        console.log(
          `${paint('dashboard', 'bold')}  http://127.0.0.1:${ports.http}/#token=${apiToken}  (every replica serves it: ports ${ports.http}-${ports.http + replicaCount - 1})`,
        );
        console.log(
          `${paint('etcd', 'bold')}       http://127.0.0.1:${ports.etcd}   ${paint('redis', 'bold')} redis://127.0.0.1:${ports.redis}   ${paint('telephony sink', 'bold')} http://127.0.0.1:${ports.sink}/calls`,
        );
        console.log(
          paint(
            `try: BATON_ETCD=http://127.0.0.1:${ports.etcd} BATON_REDIS=redis://127.0.0.1:${ports.redis} npx baton status   (Ctrl-C stops everything)`,
            'dim',
          ),
        );

        let killer: NodeJS.Timeout | null = null;
        if (killEvery !== null) {
          killer = setInterval(() => {
            const leader = leaderProcess(children);
            if (leader) {
              console.log(paint(`kill -9 ${leader.name} (the leader) to show fail-over`, 'red'));
              leader.proc.kill('SIGKILL');
              const idx = Number(leader.name.split('-')[1]);
              setTimeout(() => {
                if (!stopping)
                  start(
                    leader.name,
                    process.execPath,
                    [BIN, 'scheduler', '--id', leader.name],
                    { ...env, BATON_HTTP: String(ports.http + idx - 1) },
                    true,
                  );
              }, 1000);
            }
          }, killEvery);
        }
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        if (killer) clearInterval(killer);
        console.log(paint('stopping…', 'dim'));
      } finally {
        await stopAll();
      }
    });
}

let currentLeader: string | null = null;

function leaderProcess(children: Child[]): Child | null {
  if (!currentLeader) return null;
  return (
    children.find(
      (c) => c.name === currentLeader && c.proc.exitCode === null && c.proc.signalCode === null,
    ) ?? null
  );
}

/** The time of day of a moment, for the narration (`HH:MM:SS.mmm`, UTC). */
function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/**
 * Prints what a person watching wants from a process's log line, compactly: the replicas' state
 * changes (the line that carries `event: 'state'`), errors, and the telephony sink's calls. Fires,
 * skips and runs come from the cluster's event bus instead ({@link narrateEvent}).
 */
function narrate(name: string, line: string): void {
  const e = JSON.parse(line) as Record<string, unknown>;
  const t = clock(Number(e.time));
  const who = paint(name.padEnd(12), 'dim');
  const msg = String(e.msg ?? '');
  if (e.event === 'state') {
    if (e.to === 'leader') currentLeader = name;
    else if (currentLeader === name) currentLeader = null;
    const colour = e.to === 'leader' ? 'green' : e.to === 'unknown' ? 'yellow' : 'dim';
    console.log(`${t} ${who} ${paint(msg, colour)}${e.token ? ` token ${String(e.token)}` : ''}`);
  } else if (Number(e.level) >= 50) {
    const err = e.err as { message?: unknown } | undefined;
    console.log(
      `${t} ${who} ${paint(msg, 'red')}${err?.message ? `: ${String(err.message)}` : ''}`,
    );
  } else if (name === 'telephony-sink' && typeof e.customer === 'string') {
    console.log(
      `${t} ${who} call ${e.customer} ${e.duplicate ? paint('(duplicate, ignored)', 'yellow') : ''}`,
    );
  }
}

/** Prints a fire, skip or run of the cluster's event bus (typed events, not log text). */
function narrateEvent(e: BatonEvent): void {
  const t = clock(Date.now());
  switch (e.type) {
    case 'fire':
      console.log(
        `${t} ${paint((currentLeader ?? 'leader').padEnd(12), 'dim')} fire ${paint(e.fireId, 'bold')} token ${e.token}${e.manual ? ' (manual)' : ''}`,
      );
      break;
    case 'skip':
      console.log(
        `${t} ${paint((currentLeader ?? 'leader').padEnd(12), 'dim')} ${paint(`skip ${e.job} x${e.count} (${e.reason})`, 'yellow')}`,
      );
      break;
    case 'run': {
      const colour =
        e.status === 'completed'
          ? 'green'
          : e.status === 'failed' || e.status === 'stale'
            ? 'red'
            : 'dim';
      console.log(
        `${t} ${paint(e.worker.padEnd(12), 'dim')} ${paint(`run ${e.status}`, colour)} ${e.fireId}`,
      );
      break;
    }
    default:
      break;
  }
}
