import { DateTime } from 'luxon';
import { afterEach, describe, expect, it } from 'vitest';
import { baton } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { jobsFolder, waitForLeader } from '../helpers/replicas.js';
import { closeStacks, startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

afterEach(closeStacks);

describe('calendars and active windows', () => {
  it('baton next --explain names skipped instants (calendar, window) and DST shifts', async () => {
    const dir = await jobsFolder({
      'closures.yaml': 'calendar: closures\ndates: [2026-03-10..2026-03-12]\n',
      'nightly.yaml': `name: nightly
schedule: "30 2 * * *"
timezone: America/New_York
exclude: [2026-03-09, calendar: closures]
activeUntil: 2026-03-14
`,
    });
    const r = await baton([
      'next',
      'nightly',
      '--jobs',
      dir,
      '--from',
      '2026-03-07T12:00:00-05:00',
      '--count',
      '5',
      '--explain',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '2026-03-08T03:00:00-04:00  fires: 02:30 does not exist on 2026-03-08 in America/New_York: fires at 03:00',
      '2026-03-09T02:30:00-04:00  skipped: excluded: 2026-03-09',
      '2026-03-10T02:30:00-04:00 .. 2026-03-12T02:30:00-04:00 (3 instants)  skipped: excluded: calendar closures (2026-03-10..2026-03-12)',
      '2026-03-13T02:30:00-04:00  fires',
      '2026-03-14T02:30:00-04:00  fires',
    ]);
    // Without --explain: only the fires. After the window: none, and why.
    const plain = await baton([
      'next',
      'nightly',
      '--jobs',
      dir,
      '--from',
      '2026-03-07T12:00:00-05:00',
      '--json',
    ]);
    expect(JSON.parse(plain.stdout)).toEqual([
      '2026-03-08T03:00:00-04:00',
      '2026-03-13T02:30:00-04:00',
      '2026-03-14T02:30:00-04:00',
    ]);
    const after = await baton([
      'next',
      'nightly',
      '--jobs',
      dir,
      '--from',
      '2026-03-15T00:00:00-04:00',
    ]);
    expect(after.code).toBe(1);
    expect(after.stderr.trim()).toBe(
      'baton: nightly has no fire after 2026-03-15T00:00:00-04:00 (its active window ended (activeUntil 2026-03-14))',
    );
    // An unknown calendar is a validation problem at its reference.
    const bad = await jobsFolder({
      'j.yaml': 'name: j\nschedule: "@daily"\nexclude:\n  - calendar: closure\n',
      'closures.yaml': 'calendar: closures\ndates: [2026-03-10]\n',
    });
    const v = await baton(['validate', bad]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(
      /j\.yaml:4:15: unknown calendar "closure" \(did you mean "closures"\?/,
    );
  });

  it('a replica and a worker: an excluded day is skipped and recorded, a window bounds the runs, a plain job runs', async () => {
    const zone = 'America/New_York';
    const nowLocal = DateTime.now().setZone(zone);
    // "Today" in the job's zone; near midnight tomorrow too, so the test never straddles it.
    const today = nowLocal.toISODate()!;
    const last = nowLocal.plus({ minutes: 2 }).toISODate()!;
    const excluded = last === today ? today : `${today}..${last}`;
    const from = new Date(Math.ceil(Date.now() / 1000) * 1000 + 6_000);
    const until = new Date(from.getTime() + 3_000);
    const stack = await startStack({
      name: 'calendars',
      jobs: {
        'holiday.yaml': `name: holiday
schedule: "* * * * * *"
timezone: ${zone}
handler: append
exclude: [${excluded}]
`,
        'window.yaml': `name: window
schedule: "* * * * * *"
handler: append
activeFrom: ${from.toISOString()}
activeUntil: ${until.toISOString()}
`,
        'plain.yaml': 'name: plain\nschedule: "* * * * * *"\nhandler: append\n',
      },
    });
    const replica = await stack.startReplica('r1', { httpPort: await freePort() });
    await stack.startWorker('w1');
    await waitForLeader(stack.ctx);
    const redis = stack.redis();
    const keys = stack.redisKeys;
    const skipsOf = async (job: string) =>
      (await redis.zrange(keys.skips(job).list, '0', '-1')).map(
        (j) => JSON.parse(j) as { reason: string; detail?: string; first: number; count: number },
      );

    // The window's last instant ran: every instant of the window was decided by then.
    await waitFor(
      async () =>
        (await stack.executions()).some(
          (e) => e.job === 'window' && e.scheduledAt === until.getTime(),
        ),
      { timeoutMs: 30_000, description: "the window's last run" },
    );
    const excludedSkips = await waitFor(
      async () => {
        const s = (await skipsOf('holiday')).filter((x) => x.reason === 'excluded');
        return s.reduce((n, x) => n + x.count, 0) >= 3 ? s : undefined;
      },
      { description: 'three excluded instants recorded' },
    );
    expect(new Set(excludedSkips.map((s) => s.detail))).toEqual(new Set([excluded]));
    expect(
      Number(await redis.hget(keys.skips('holiday').counts, 'excluded')),
    ).toBeGreaterThanOrEqual(3);

    const ran = await stack.executions();
    expect(ran.filter((e) => e.job === 'holiday')).toEqual([]);
    expect(ran.filter((e) => e.job === 'plain').length).toBeGreaterThanOrEqual(3);
    const windowRuns = ran.filter((e) => e.job === 'window').map((e) => e.scheduledAt);
    expect(windowRuns.sort()).toEqual([0, 1, 2, 3].map((s) => from.getTime() + s * 1000));
    // The API's job detail shows the instants ahead with why they are skipped.
    const detail = (await (await fetch(`${replica.http}/api/v1/jobs/holiday`)).json()) as {
      nextFires: string[];
      upcoming: { at: string; skipped?: string }[];
    };
    expect(detail.upcoming).toHaveLength(10);
    for (const u of detail.upcoming) expect(u.skipped).toBe(`excluded: ${excluded}`);
    expect(detail.nextFires.every((f) => f.slice(0, 10) > last)).toBe(true);
    const ended = (await (await fetch(`${replica.http}/api/v1/jobs/window`)).json()) as {
      nextFires: string[];
      upcoming: unknown[];
    };
    expect(ended).toMatchObject({ nextFires: [], upcoming: [] });

    // The seconds before the window were recorded as one inactive range when it opened.
    const inactive = (await skipsOf('window')).filter((s) => s.reason === 'inactive');
    expect(inactive).toHaveLength(1);
    expect(inactive[0]!.detail).toBe(`before activeFrom ${from.toISOString()}`);
    expect(inactive[0]!.count).toBeGreaterThan(0);
  });
});
