import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/api/metrics.js';
import { silentLogger } from '../../../src/log.js';
import { redisKeys } from '../../../src/redis/keys.js';
import type { Replica, ServiceProblem, StateChange } from '../../../src/scheduler/replica.js';

/** The parts of a replica the metrics read: id, state, problems and its events. */
function fakeReplica(problems: ServiceProblem[] = []) {
  const r = Object.assign(new EventEmitter(), {
    id: 'r1',
    state: 'leader',
    serviceProblems: () => problems,
  });
  return r;
}

const metrics = (replica: ReturnType<typeof fakeReplica>) =>
  new Metrics({
    replica: replica as unknown as Replica,
    redis: {} as Redis,
    keys: redisKeys('bull', 'baton'),
    logger: silentLogger(),
    processMetrics: false,
  });

describe('metrics of the replica', () => {
  it('baton_step_downs_total counts the typed cause carried by the state change', async () => {
    const replica = fakeReplica();
    const m = metrics(replica);
    const change = (cause: StateChange['cause'], reason: string): StateChange => ({
      from: 'leader',
      to: 'unknown',
      reason,
      token: '7',
      cause,
    });
    // The words say "fenced commit refused", the cause says redis_unreachable: the cause counts.
    replica.emit('state', change('redis_unreachable', 'fenced commit refused; starting over'));
    replica.emit('state', change('auth', 'etcd refused the credentials; starting over'));
    replica.emit('state', change('auth', 'etcd refused the credentials; starting over'));
    const text = await m.registry.getSingleMetricAsString('baton_step_downs_total');
    expect(text).toContain('baton_step_downs_total{replica="r1",cause="redis_unreachable"} 1');
    expect(text).toContain('baton_step_downs_total{replica="r1",cause="auth"} 2');
    expect(text).not.toContain('cause="fence_refused"');
    m.close();
  });

  it('baton_backend_error says which service fails and why while it does', async () => {
    const problems: ServiceProblem[] = [
      { service: 'etcd', cause: 'auth', message: 'refused', since: new Date(0).toISOString() },
    ];
    const m = metrics(fakeReplica(problems));
    expect(await m.registry.getSingleMetricAsString('baton_backend_error')).toContain(
      'baton_backend_error{replica="r1",service="etcd",cause="auth"} 1',
    );
    problems.length = 0;
    expect(await m.registry.getSingleMetricAsString('baton_backend_error')).not.toContain(
      'cause="auth"',
    );
    m.close();
  });
});
