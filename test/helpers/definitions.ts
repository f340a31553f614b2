import { noAlerts } from '../../src/definitions/alerts.js';
import type { JobDefinition } from '../../src/definitions/types.js';

/**
 * A job definition as the loader would produce it for `name` (every second, UTC, catch-up
 * `latest`, one attempt, no alerts), with `over` replacing any field: the fixture of the
 * planner's unit tests.
 */
export function jobDefinition(name: string, over: Partial<JobDefinition> = {}): JobDefinition {
  return {
    name,
    schedule: '* * * * * *',
    timezone: 'UTC',
    handler: name,
    queue: 'baton',
    payload: null,
    catchUp: 'latest',
    catchUpLimit: 100,
    startingDeadlineMs: null,
    overlap: 'allow',
    jitterMs: 0,
    retries: { attempts: 1, backoff: 'exponential', delayMs: 1000 },
    timeoutMs: null,
    paused: false,
    retention: { ageMs: 3_600_000, count: 100 },
    description: null,
    owner: null,
    tags: [],
    alerts: noAlerts(),
    source: { file: 'jobs.yaml', line: 1, col: 1 },
    ...over,
  };
}
