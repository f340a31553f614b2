import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEtcdCluster, startEtcdNode, type EtcdCluster } from './etcd.js';
import {
  ETCD_BINARY,
  REDIS_BINARY,
  requireBinaries,
  stopAllProcesses,
  sweepStaleTempDirs,
} from './process.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * What the integration run shares with every test file (`inject('...')`). These servers are
 * shared: tests use their own namespace (see testNamespace) and must not kill, restart or
 * partition them. A test that needs to kill a member starts its own cluster with
 * startEtcdCluster() (1-2 s), which it owns and stops in afterAll.
 */
export interface SharedServices {
  /** Client endpoint of the single-node etcd (`http://127.0.0.1:<port>`). */
  etcdEndpoint: string;
  /** Client endpoints of the shared 3-member etcd cluster. */
  etcdClusterEndpoints: string[];
  /** `redis://127.0.0.1:<port>` of the shared Redis (AOF on, noeviction). */
  redisUrl: string;
  /** Pids of every shared server process, for leak checks; never signal them. */
  sharedPids: number[];
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  export interface ProvidedContext extends SharedServices {}
}

/**
 * Starts one single-node etcd, one 3-member etcd cluster and one Redis for the whole integration
 * run, in parallel, and stops them (and removes their dirs) in the returned teardown.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Fail with one message naming every missing binary before starting anything.
  requireBinaries([ETCD_BINARY, REDIS_BINARY]);
  await sweepStaleTempDirs();

  let single: EtcdCluster | undefined;
  let cluster: EtcdCluster | undefined;
  let redis: RedisServer | undefined;
  const teardown = async (): Promise<void> => {
    await Promise.allSettled([single?.stopAll(), cluster?.stopAll(), redis?.stopAll()]);
    // Anything else this process started (a failed start half-way) goes too.
    await stopAllProcesses();
  };

  const [s, c, r] = await Promise.allSettled([
    startEtcdNode(),
    startEtcdCluster({ size: 3 }),
    startRedis(),
  ]);
  if (s.status === 'fulfilled') single = s.value;
  if (c.status === 'fulfilled') cluster = c.value;
  if (r.status === 'fulfilled') redis = r.value;
  if (!single || !cluster || !redis) {
    await teardown();
    const failed = [s, c, r].find((x) => x.status === 'rejected');
    throw failed?.status === 'rejected'
      ? failed.reason
      : new Error('shared services failed to start');
  }

  const sharedPids = [
    ...single.members.flatMap((m) => m.pids),
    ...cluster.members.flatMap((m) => m.pids),
    ...redis.pids,
  ];
  project.provide('etcdEndpoint', single.endpointsCsv);
  project.provide('etcdClusterEndpoints', [...cluster.endpoints]);
  project.provide('redisUrl', redis.url);
  project.provide('sharedPids', sharedPids);
  return teardown;
}
