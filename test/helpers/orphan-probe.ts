/**
 * Child process for the "no orphan after a crash" test: starts a single-node etcd and a Redis,
 * prints their pids and dirs as one JSON line, then idles until it is killed. The test SIGKILLs
 * it (no JavaScript cleanup runs) and checks the kernel's parent-death signal took the servers.
 *
 * Run: node --import tsx test/helpers/orphan-probe.ts
 */
import { startEtcdNode } from './etcd.js';
import { startRedis } from './redis.js';

/** The line the probe prints once its servers are ready. */
export interface OrphanProbeReport {
  pids: number[];
  dirs: string[];
}

const [etcd, redis] = await Promise.all([startEtcdNode(), startRedis()]);
const report: OrphanProbeReport = {
  pids: [...etcd.members.flatMap((m) => m.pids), ...redis.pids],
  dirs: [etcd.baseDir, redis.dir],
};
process.stdout.write(`${JSON.stringify(report)}\n`);
// Keep the event loop alive until the test kills this process.
setInterval(() => undefined, 1 << 30);
