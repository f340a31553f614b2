import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** How a child process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of {@link spawnManaged}. */
export interface SpawnManagedOptions {
  /** Label used in errors and log dumps, e.g. `etcd n1`. */
  name: string;
  /** Absolute path of the executable (see {@link resolveBinary}). */
  command: string;
  args: readonly string[];
  /** stdout and stderr are appended to this file (see {@link readLogTail}). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Set `BATON_TEST_KEEP_DIRS=1` to keep data directories and logs after the run. */
export const keepTempDirs = process.env.BATON_TEST_KEEP_DIRS === '1';

const live = new Set<ManagedProcess>();
const tempDirs = new Set<string>();

/**
 * A server process started by the harness. It is registered until it exits, and killed if this
 * Node process exits, crashes or is killed (see {@link spawnManaged}).
 */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves once the process has exited and been reaped. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;

  /** @internal use {@link spawnManaged} */
  constructor(name: string, pid: number, logFile: string, exited: Promise<ExitInfo>) {
    this.name = name;
    this.pid = pid;
    this.logFile = logFile;
    this.exited = exited.then((info) => {
      this.#exit = info;
      live.delete(this);
      return info;
    });
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How it ended, once it has. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** SIGKILL, then wait until the process is reaped. */
  async kill9(): Promise<ExitInfo> {
    if (this.running) signal(this.pid, 'SIGKILL');
    return this.exited;
  }

  /** SIGTERM, wait up to `graceMs` for a clean exit, then SIGKILL. */
  async stop(graceMs = 5_000): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    signal(this.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const first = await Promise.race([this.exited, graceOver]);
    clearTimeout(timer);
    if (first === 'timeout') signal(this.pid, 'SIGKILL');
    return this.exited;
  }

  /** The last `lines` lines the process wrote (stdout and stderr interleaved). */
  logTail(lines = 60): string {
    return readLogTail(this.logFile, lines);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const binaryCache = new Map<string, string | undefined>();

function findOnPath(name: string): string | undefined {
  if (binaryCache.has(name)) return binaryCache.get(name);
  let found: string | undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      // not in this directory
    }
  }
  binaryCache.set(name, found);
  return found;
}

/** A server binary the integration tests need, and the variable that may override its path. */
export interface BinarySpec {
  name: string;
  envVar: string;
}

export const ETCD_BINARY: BinarySpec = { name: 'etcd', envVar: 'BATON_TEST_ETCD_BIN' };
export const REDIS_BINARY: BinarySpec = { name: 'redis-server', envVar: 'BATON_TEST_REDIS_BIN' };

/**
 * Resolves the binaries (override variable first, then `PATH`) or throws ONE error naming every
 * missing one, so a CI machine without them fails with a message instead of a spawn ENOENT.
 */
export function requireBinaries(specs: readonly BinarySpec[]): Map<string, string> {
  const resolved = new Map<string, string>();
  const missing: string[] = [];
  for (const spec of specs) {
    const override = process.env[spec.envVar];
    const found = override
      ? isExecutable(override)
        ? override
        : undefined
      : findOnPath(spec.name);
    if (found) resolved.set(spec.name, found);
    else
      missing.push(
        override ? `${spec.name} (${spec.envVar}=${override} is not executable)` : spec.name,
      );
  }
  if (missing.length > 0) {
    throw new Error(
      `integration tests need real servers, not found: ${missing.join(', ')}. ` +
        `Install etcd >= 3.4 and redis-server >= 7 (Debian/Ubuntu: apt-get install etcd-server redis-server) ` +
        `or point ${specs.map((s) => s.envVar).join(' / ')} at the binaries.`,
    );
  }
  return resolved;
}

/** Path of one binary; see {@link requireBinaries}. */
export function resolveBinary(spec: BinarySpec): string {
  const found = requireBinaries([spec]).get(spec.name);
  if (found === undefined) throw new Error(`unreachable: ${spec.name} resolved to nothing`);
  return found;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a server process that cannot outlive this Node process.
 *
 * On Linux the server is started through util-linux `setpriv --pdeathsig KILL`, which sets the
 * kernel's parent-death signal and then execs the server: no watchdog process in between, the
 * pid is the server's own, and the kernel SIGKILLs it when its parent goes away for any reason,
 * including SIGKILL of vitest or an OOM kill, where no JavaScript handler runs. (Node has no
 * PR_SET_PDEATHSIG of its own.) The "parent" is the thread that spawned it: the main thread of
 * vitest's main process for global servers, of the test fork for per-file servers (with the
 * `threads` pool it would be the worker thread, which ends with the file: also fine).
 * Without setpriv (macOS), only the exit handlers below protect against leaks.
 *
 * Output goes straight to `logFile` (not through a pipe), so a server never blocks on a full
 * pipe while the test's event loop is busy, and the log survives the Node process.
 */
export function spawnManaged(options: SpawnManagedOptions): ManagedProcess {
  installExitHandlers();
  const setpriv = hasParentDeathSignal() ? findOnPath('setpriv') : undefined;
  const [command, args] = setpriv
    ? [setpriv, ['--pdeathsig', 'KILL', options.command, ...options.args]]
    : [options.command, [...options.args]];
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(command, args, {
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      detached: false,
    });
    if (child.pid === undefined) {
      throw new Error(`could not start ${options.name} (${options.command})`);
    }
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, sig) => resolve({ code, signal: sig }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    const managed = new ManagedProcess(options.name, child.pid, options.logFile, exited);
    live.add(managed);
    return managed;
  } finally {
    closeSync(fd);
  }
}

/** Last `lines` lines of a log file (reads at most its last 256 KiB). */
export function readLogTail(file: string, lines = 60): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, 256 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch (err) {
    return `(no log at ${file}: ${(err as Error).message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** True if `pid` names a live (not zombie) process. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Pids of live processes whose command line contains `text` (e.g. a cluster's temp dir), read
 * from `/proc`; catches servers started by any process, not only by this one. Linux only
 * (returns [] elsewhere).
 */
export function processesMentioning(text: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(text) && isPidAlive(pid)) found.push(pid);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** True if servers are started through `setpriv --pdeathsig` (see {@link spawnManaged}). */
export function hasParentDeathSignal(): boolean {
  return process.platform === 'linux' && findOnPath('setpriv') !== undefined;
}

/** Processes started by this Node process that have not exited yet. */
export function liveProcesses(): ManagedProcess[] {
  return [...live];
}

const OWNER_FILE = '.baton-test-owner';

/**
 * mkdtemp under `os.tmpdir()` (use a `baton-` prefix), removed by {@link removeTempDir} or at
 * exit. Records the pid of this process in the dir so {@link sweepStaleTempDirs} can recognise
 * a dir left behind by a SIGKILLed run.
 */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  await writeFile(path.join(dir, OWNER_FILE), String(process.pid));
  return dir;
}

/**
 * Removes `baton-*` temp dirs left behind by runs that were SIGKILLed (their servers died with
 * them, but no JavaScript ran to delete the dirs): dirs made by {@link makeTempDir} whose owner
 * pid is dead and that no live process mentions on its command line. Dirs without an owner
 * file are not ours and stay. Returns the removed dirs.
 */
export async function sweepStaleTempDirs(): Promise<string[]> {
  const tmp = os.tmpdir();
  const removed: string[] = [];
  for (const entry of await readdir(tmp)) {
    if (!entry.startsWith('baton-')) continue;
    const dir = path.join(tmp, entry);
    try {
      const owner = Number(await readFile(path.join(dir, OWNER_FILE), 'utf8'));
      if (!Number.isInteger(owner) || owner <= 0 || isPidAlive(owner)) continue;
      if (processesMentioning(dir).length > 0) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // removed concurrently, or not ours to read
    }
  }
  return removed;
}

/** Removes a directory from {@link makeTempDir} unless `BATON_TEST_KEEP_DIRS=1`. */
export async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  if (keepTempDirs) return;
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Stops every live process of this Node process (SIGTERM, SIGKILL after `graceMs`) and removes
 * every temp dir still registered. For teardown; tests should stop what they started.
 */
export async function stopAllProcesses(graceMs = 3_000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
  await Promise.all([...tempDirs].map(removeTempDir));
}

/** Synchronous last resort for exit paths, where nothing can be awaited. */
function killAllNow(): void {
  for (const p of live) signal(p.pid, 'SIGKILL');
  if (keepTempDirs) return;
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a dying server may still be writing; the dir is in os.tmpdir() anyway
    }
  }
}

let handlersInstalled = false;

/**
 * Kills tracked servers on every way out of this process that runs JavaScript: normal exit
 * (vitest's own SIGINT/SIGTERM handlers end in process.exit()), an uncaught exception (observed
 * with `uncaughtExceptionMonitor`, which does not change Node's crash behaviour) and signals
 * nobody else handles (re-raised after cleanup so the default action still happens).
 * SIGKILL/OOM are covered by the parent-death signal in {@link spawnManaged}.
 */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Prepended: vitest's own 'exit' listener calls process.exit() again, which ends the process
  // on the spot, so listeners registered after it never run.
  process.prependOnceListener('exit', killAllNow);
  process.on('uncaughtExceptionMonitor', killAllNow);
  // A vitest fork worker talks to vitest's main process over IPC. When the main process dies
  // (SIGKILL, crash, Ctrl-C during a test) vitest 3.2 leaves the worker running as an orphan
  // that spins at 100% CPU, and the servers of its test file would live as long as it does.
  // Nothing else closes that channel (tinypool stops workers with signals), so: take the
  // servers down, and end the worker, which can no longer report anything. SIGKILL because
  // vitest patches process.exit() in workers into an error report to the (dead) main process.
  if (process.send !== undefined) {
    process.once('disconnect', () => {
      killAllNow();
      if (process.env.VITEST_POOL_ID !== undefined) process.kill(process.pid, 'SIGKILL');
    });
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow();
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}
