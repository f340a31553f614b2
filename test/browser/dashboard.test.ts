import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type {
  AuditResponse,
  BackfillPlan,
  BackfillRecord,
  BackfillRequest,
  JobHistory,
  LeadersResponse,
} from '../../src/api/types.js';
import type { ControlContext } from '../../src/control/context.js';
import { getStatus } from '../../src/control/status.js';
import { testNamespace } from '../helpers/namespace.js';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir, spawnManaged, type ManagedProcess } from '../helpers/process.js';
import {
  BATON_BIN,
  batonEnv,
  control,
  jobsFolder,
  startReplica,
  waitForLeader,
  type ReplicaProcess,
  type StackOptions,
} from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

// The dashboard end to end: three real `baton scheduler` processes (A and B with an API token,
// C without) and a `baton worker`, driven through Debian's headless Chromium (playwright-core,
// no downloaded browser). Screenshots go to test-results/screenshots/.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCREENSHOTS = path.join(ROOT, 'test-results/screenshots');
const HANDLERS = path.join(ROOT, 'test/fixtures/handlers/quick.mjs');
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token';

const JOBS = {
  'heartbeat.yaml': `name: heartbeat
schedule: '*/2 * * * * *'
handler: quick
description: Liveness ping to the monitoring sink
owner: platform
tags: [ops]
`,
  'nightly-report.yaml': `name: nightly-report
schedule: '30 9 * * 1-5'
timezone: Europe/Berlin
handler: quick
overlap: forbid
description: Sales report for the morning meeting
owner: reports
tags: [reports, email]
`,
  'invoice-sync.yaml': `name: invoice-sync
schedule: '*/5 * * * * *'
timezone: America/New_York
handler: failing
description: Pushes new invoices to the ERP
`,
};

const JOB = 'nightly-report';

let opts: StackOptions;
let ctx: ControlContext;
let replicas: ReplicaProcess[] = [];
let worker: ManagedProcess | undefined;
let browser: Browser | undefined;
let pageA: Page;
let pageB: Page;
let pageC: Page;
/** Uncaught page errors and CSP violations, per page. */
const problems: string[] = [];
/** Every dashboard module a page loaded (URL and Cache-Control of the answer). */
const modules: { url: string; cache: string | undefined }[] = [];
/** The newest answer each page got, by page label and request path (`A /api/v1/audit?job=x`). */
const answers = new Map<string, unknown>();

/** The newest answer `page` got to `path` (with query), once it got one. */
function answer<T>(label: string, pathAndQuery: string): T | undefined {
  return answers.get(`${label} ${pathAndQuery}`) as T | undefined;
}

async function openPage(
  url: string,
  label: string,
  options: BrowserContextOptions = {},
): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (err) => problems.push(`${label}: ${err.message}`));
  page.on('console', (msg) => {
    if (/content security policy/i.test(msg.text())) problems.push(`${label}: ${msg.text()}`);
  });
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.pathname.startsWith('/assets/') && url.pathname.endsWith('.js')) {
      modules.push({ url: url.pathname + url.search, cache: res.headers()['cache-control'] });
    }
    if (!url.pathname.startsWith('/api/v1/') || !res.ok()) return;
    res.json().then(
      (body: unknown) => answers.set(`${label} ${url.pathname}${url.search}`, body),
      () => undefined,
    );
  });
  await page.goto(url);
  return page;
}

/** A full-page screenshot from the top, without the transient notice. */
async function screenshot(page: Page, name: string): Promise<void> {
  const close = page.getByTestId('notice').getByRole('button', { name: 'Dismiss message' });
  if (await close.isVisible()) await close.click();
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true });
}

/**
 * Waits until the page shows the leader, and every member in the state, that etcd reports at
 * that same moment. (Compared with a fresh read each time: should leadership change while the
 * test runs, the page must follow it, not match a value read earlier.)
 */
async function pageAgreesWithEtcd(page: Page): Promise<void> {
  await waitFor(
    async () => {
      const s = await getStatus(ctx);
      const shown = await text(page, 'leader');
      if (s.leader === null || !shown.includes(s.leader))
        throw new Error(`the page shows "${shown}", etcd's leader is ${s.leader}`);
      for (const m of s.members) {
        const state = await page.getByTestId(`member-${m.id}`).getAttribute('data-state');
        if (state !== m.state)
          throw new Error(`the page shows ${m.id} as ${state}, etcd ${m.state}`);
      }
      return s.members.length === 3;
    },
    { timeoutMs: 15_000, description: 'the page to agree with etcd on the leader and members' },
  );
}

const text = (page: Page, testId: string) => page.getByTestId(testId).innerText();
const visible = (page: Page, testId: string) => page.getByTestId(testId).isVisible();

beforeAll(async () => {
  opts = {
    etcd: [inject('etcdEndpoint')],
    redisUrl: inject('redisUrl'),
    namespace: testNamespace('dashboard'),
    jobsDir: await jobsFolder(JOBS),
    // The product default: this file tests the page, not fail-over speed, and a 2 s lease can
    // change hands when a loaded CI machine stalls a replica while Chromium starts.
    leaseTtl: 5,
  };
  ctx = control(opts);
  const [portA, portB, portC] = await freePorts(3);
  const withToken = { BATON_API_TOKEN: TOKEN };
  replicas = await Promise.all([
    startReplica(opts, 'dash-a', portA!, withToken),
    startReplica(opts, 'dash-b', portB!, withToken),
    startReplica(opts, 'dash-c', portC!),
  ]);
  const logDir = await makeTempDir('baton-dash-worker-');
  worker = spawnManaged({
    name: 'worker dash-worker',
    command: process.execPath,
    args: [BATON_BIN, 'worker', '--id', 'dash-worker', '--no-examples', '--handlers', HANDLERS],
    logFile: path.join(logDir, 'worker.log'),
    env: batonEnv(opts),
  });
  await waitForLeader(ctx, (s) => s.members.length === 3);
  for (const r of replicas) {
    await waitFor(async () => (await fetch(`${r.http}/api/v1/status`)).ok, {
      timeoutMs: 15_000,
      description: `${r.id} serves the API`,
    });
  }
  await waitFor(() => worker!.logTail(200).includes('"worker ready"'), {
    timeoutMs: 15_000,
    description: 'the worker is ready',
  });
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

afterEach((test) => {
  if (test.task.result?.state !== 'fail') return;
  for (const r of replicas) {
    // Warnings and errors from the whole log (a lost session, say), then the last lines.
    const notable = r
      .log(100_000)
      .split('\n')
      .filter((l) => /"level":(40|50|60)/.test(l));
    console.error(`--- warnings of ${r.id}\n${notable.slice(-30).join('\n')}`);
    console.error(`--- log of ${r.id}\n${r.log(40)}`);
  }
  if (worker) console.error(`--- log of ${worker.name}\n${worker.logTail(40)}`);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([...replicas.map((r) => r.kill9()), worker?.kill9()]);
  ctx?.close();
});

describe('dashboard', () => {
  it("loads replica A's page and shows the leader, every member and the jobs", async () => {
    const [a, b, c] = replicas;
    pageA = await openPage(`${a!.http}/`, 'A');

    await pageAgreesWithEtcd(pageA);
    for (const id of ['dash-a', 'dash-b', 'dash-c']) {
      await expect.poll(() => text(pageA, `member-${id}-age`)).toMatch(/^(just now|\d+ s ago)$/);
    }
    expect(await text(pageA, 'self')).toContain('dash-a');
    // Who led when: the current leader's term, recorded when it took over.
    const leaderNow = (await getStatus(ctx)).leader;
    await expect
      .poll(() => pageA.getByTestId('leader-term').last().getAttribute('data-replica'))
      .toBe(leaderNow);
    for (const job of ['heartbeat', 'nightly-report', 'invoice-sync']) {
      expect(await visible(pageA, `job-${job}`)).toBe(true);
    }
    const report = await text(pageA, `job-${JOB}`);
    expect(report).toContain('Europe/Berlin');
    expect(report).toMatch(/09:30/); // the schedule in words and the next fires, in its zone
    expect(await pageA.getByTestId(`job-${JOB}-next`).locator('li').count()).toBe(3);
    expect(await visible(pageA, `job-${JOB}-paused`)).toBe(false);

    // Live: the stream brings the every-2-seconds job's fires and runs without a reload.
    await expect.poll(() => text(pageA, 'connection'), { timeout: 10_000 }).toBe('Live');
    const heartbeatRun = pageA.locator(
      '[data-testid="feed-item"][data-event="run"][data-job="heartbeat"][data-status="completed"]',
    );
    await heartbeatRun.first().waitFor();
    await expect
      .poll(() => pageA.getByTestId('job-heartbeat-lastrun').getAttribute('data-status'))
      .toMatch(/running|completed/);
    // The failing job shows its error.
    await expect
      .poll(() => pageA.getByTestId('job-invoice-sync-lastrun').innerText(), { timeout: 15_000 })
      .toContain('503');

    // The modules import each other by hashed URL (the server adds `?v=`): every one is loaded
    // once, cacheable, and the chart's uPlot among them.
    const loaded = modules.map((m) => m.url);
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((u) => !/\?v=[0-9a-f]{16}$/.test(u))).toEqual([]);
    expect(new Set(loaded.map((u) => u.split('?')[0])).size).toBe(loaded.length);
    expect(loaded.some((u) => u.startsWith('/assets/uplot.esm.js?v='))).toBe(true);
    expect(modules.every((m) => m.cache === 'public, max-age=31536000, immutable')).toBe(true);

    pageB = await openPage(`${b!.http}/#token=${TOKEN}`, 'B');
    pageC = await openPage(`${c!.http}/`, 'C');
  });

  it('explains a refused token and a replica without one', async () => {
    // No token: the page asks for one and sends nothing.
    await pageA.getByTestId(`job-${JOB}-trigger`).click();
    await expect.poll(() => text(pageA, 'notice')).toContain('paste the API token');
    // A wrong token: the server's 403 FORBIDDEN, in words.
    await pageA.getByTestId('token-input').fill('not-the-token');
    await pageA.getByTestId('token-input').press('Enter');
    await pageA.getByTestId(`job-${JOB}-trigger`).click();
    await expect.poll(() => text(pageA, 'notice')).toContain('403 FORBIDDEN');
    expect(await text(pageA, 'notice')).toContain('refused');
    // Replica C runs without BATON_API_TOKEN: mutations are disabled there.
    await pageC.getByTestId('token-input').fill(TOKEN);
    await pageC.getByTestId('token-save').click();
    await pageC.getByTestId(`job-${JOB}-trigger`).click();
    await expect.poll(() => text(pageC, 'notice')).toContain('MUTATIONS_DISABLED');
    expect(await text(pageC, 'notice')).toContain('without BATON_API_TOKEN');
  });

  it("takes the token from the link once and removes it from B's address bar", async () => {
    expect(pageB.url()).not.toContain('#');
    expect(pageB.url()).not.toContain(TOKEN);
    expect(await pageB.evaluate("localStorage.getItem('baton.apiToken')")).toBe(TOKEN);
    expect(await text(pageB, 'token-state')).toContain('saved');
  });

  it("pauses a job with a reason on A and B's page shows it paused, live", async () => {
    await pageA.getByTestId('token-input').fill(TOKEN);
    await pageA.getByTestId('token-save').click();
    await pageA.getByTestId('operator-input').fill('alice');
    await pageA.getByTestId('operator-input').press('Tab');
    await pageB.evaluate('window.__notReloaded = true');

    await pageA.getByTestId(`job-${JOB}-pause`).click();
    const dialog = pageA.getByTestId('pause-dialog');
    await dialog.waitFor();
    await pageA.getByTestId('pause-reason').fill('quarterly close: report numbers frozen');
    await pageA.getByTestId('pause-confirm').click();

    for (const page of [pageA, pageB]) {
      const paused = page.getByTestId(`job-${JOB}-paused`);
      await paused.waitFor({ state: 'visible' });
      await expect.poll(() => paused.innerText()).toContain('quarterly close');
      expect(await paused.innerText()).toContain('alice');
      expect(await visible(page, `job-${JOB}-resume`)).toBe(true);
      expect(await visible(page, `job-${JOB}-pause`)).toBe(false);
    }
    expect(await pageB.evaluate('window.__notReloaded')).toBe(true);
    await expect
      .poll(() =>
        pageB.locator(`[data-testid="feed-item"][data-event="paused"][data-job="${JOB}"]`).count(),
      )
      .toBe(1);
    await screenshot(pageB, 'dashboard-paused-replica-b.png');
  });

  it('resumes it on B and A shows it running again', async () => {
    await pageB.getByTestId(`job-${JOB}-resume`).click();
    for (const page of [pageB, pageA]) {
      await page.getByTestId(`job-${JOB}-paused`).waitFor({ state: 'hidden' });
      await page.getByTestId(`job-${JOB}-pause`).waitFor({ state: 'visible' });
    }
  });

  it('triggers a run on A and sees it appear in the feed and as the last run, on both pages', async () => {
    const [response] = await Promise.all([
      pageA.waitForResponse((r) => r.url().endsWith(`/api/v1/jobs/${JOB}/trigger`)),
      pageA.getByTestId(`job-${JOB}-trigger`).click(),
    ]);
    expect(response.status()).toBe(202);
    const { fireId } = (await response.json()) as { fireId: string };
    expect(fireId).toMatch(new RegExp(`^${JOB}@manual-`));

    for (const page of [pageA, pageB]) {
      await page
        .locator(
          `[data-testid="feed-item"][data-event="run"][data-fire-id="${fireId}"][data-status="completed"]`,
        )
        .waitFor({ timeout: 20_000 });
      const last = page.getByTestId(`job-${JOB}-lastrun`);
      await expect.poll(() => last.getAttribute('data-fire-id')).toBe(fireId);
      await expect.poll(() => last.getAttribute('data-status')).toBe('completed');
    }
    // The run history lists it (fetched from /api/v1/jobs/:name when opened).
    await pageA.getByTestId(`job-${JOB}-runs`).locator('summary').click();
    await pageA
      .getByTestId(`job-${JOB}-recent`)
      .locator(`li[data-fire-id="${fireId}"][data-status="completed"]`)
      .waitFor();

    await screenshot(pageA, 'dashboard-desktop.png');
  });

  it('filters through the API: only the matching cards, counted by the server, then all again', async () => {
    const count = () => pageA.locator('.jobs-count').innerText();
    const cards = () =>
      pageA
        .locator('[data-testid="jobs"] > li[data-testid^="job-"]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    const asked = (q: string) =>
      pageA.waitForResponse(
        (r) => r.url().includes('/api/v1/jobs?') && new URL(r.url()).searchParams.get('q') === q,
      );

    // A word of the description only (the server matches it, with every job card gone but one).
    const [erp] = await Promise.all([asked('ERP'), pageA.getByTestId('job-filter').fill('ERP')]);
    expect(((await erp.json()) as { total: number }).total).toBe(1);
    await expect.poll(cards).toEqual(['job-invoice-sync']);
    await expect.poll(count).toBe('(1 matching)');

    // Every word must match: two tags of one job.
    await Promise.all([
      asked('email reports'),
      pageA.getByTestId('job-filter').fill('email reports'),
    ]);
    await expect.poll(cards).toEqual([`job-${JOB}`]);

    await pageA.getByTestId('job-filter').fill('');
    await expect.poll(cards).toEqual(['job-heartbeat', 'job-invoice-sync', `job-${JOB}`]);
    await expect.poll(count).toBe('(3)');
  });

  it("draws each job's timeline from its history: one mark per entry, the same statuses", async () => {
    await pageA.setViewportSize({ width: 1280, height: 900 });
    for (const job of ['heartbeat', 'invoice-sync']) {
      const details = pageA.getByTestId(`job-${job}-runs`);
      await details.locator('summary').click();
      await pageA.getByTestId(`job-${job}-timeline`).waitFor();
    }
    // The page draws the newest answer it got: compare with that answer (the every-2-seconds
    // job changes between two reads of the API).
    const marks = (job: string) =>
      pageA
        .getByTestId(`job-${job}-timeline`)
        .getByTestId('timeline-mark')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    const fromApi = (job: string) => {
      const history = answer<JobHistory>('A', `/api/v1/jobs/${job}/history?limit=200`);
      return history?.entries.map((e) => (e.kind === 'run' ? e.status : 'skipped')).reverse();
    };
    for (const job of ['heartbeat', 'invoice-sync']) {
      await expect
        .poll(
          async () => {
            const shown = await marks(job);
            const expected = fromApi(job);
            return (
              expected !== undefined && expected.length > 0 && shown.join() === expected.join()
            );
          },
          { timeout: 20_000 },
        )
        .toBe(true);
    }
    expect(await marks('heartbeat')).toContain('completed');
    // The failing job's runs are failed marks; it retries nothing, so each fire is one mark.
    await expect.poll(async () => (await marks('invoice-sync')).includes('failed')).toBe(true);

    // Hover or focus a mark for its details; the marks are one tab stop and the arrow keys move.
    const timeline = pageA.getByTestId('job-heartbeat-timeline');
    await timeline.locator('[data-testid="timeline-mark"][tabindex="0"]').focus();
    await pageA.keyboard.press('Home');
    await pageA.keyboard.press('ArrowRight');
    const focused = await pageA.evaluate(
      '[document.activeElement?.dataset.testid, document.activeElement?.getAttribute("aria-label")]',
    );
    expect(focused).toEqual(['timeline-mark', expect.stringMatching(/fire of .* started .* took/)]);
    const detail = pageA.getByTestId('job-heartbeat-runs').locator('.mark-detail');
    expect(await detail.innerText()).toBe((focused as string[])[1]);

    // The chart: one point per run shown, duration and start lag (uPlot, drawn on a canvas).
    const chart = pageA.getByTestId('job-heartbeat-chart');
    await expect.poll(() => chart.locator('canvas').count()).toBeGreaterThan(0);
    const history = answer<JobHistory>('A', '/api/v1/jobs/heartbeat/history?limit=200')!;
    expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThan(0);
    expect(Number(await chart.getAttribute('data-points'))).toBeLessThanOrEqual(
      history.entries.filter((e) => e.kind === 'run').length,
    );
    expect(await chart.innerText()).toMatch(/start lag/);
    // Upcoming fires (no calendar here: the next 10 fires).
    await expect
      .poll(() => pageA.getByTestId('job-heartbeat-upcoming').locator('li').count())
      .toBeGreaterThan(5);
  });

  it('marks upcoming fires that a calendar excludes, with the reason', async () => {
    // The job detail's `upcoming` (from calendars) is rendered when present: given here by
    // rewriting the API's answer in the browser.
    const route = `**/api/v1/jobs/${JOB}`;
    await pageA.route(route, async (r) => {
      const res = await r.fetch();
      const body = (await res.json()) as { nextFires: string[] };
      const [first, second, third] = body.nextFires;
      await r.fulfill({
        response: res,
        json: {
          ...body,
          upcoming: [
            { at: first, skipped: 'excluded: holidays' },
            { at: second },
            { at: third, skipped: 'outside active window' },
          ],
        },
      });
    });
    try {
      const details = pageA.getByTestId(`job-${JOB}-runs`);
      if ((await details.getAttribute('open')) !== null) await details.locator('summary').click();
      await details.locator('summary').click();
      const upcoming = pageA.getByTestId(`job-${JOB}-upcoming`);
      await expect.poll(() => upcoming.locator('li').count()).toBe(3);
      const excluded = upcoming.locator('li[data-skipped="excluded: holidays"]');
      expect(await excluded.innerText()).toContain('excluded: holidays');
      expect(await upcoming.locator('li[data-skipped]').count()).toBe(2);
      expect(await upcoming.locator('li').nth(1).getAttribute('data-skipped')).toBeNull();
    } finally {
      await pageA.unroute(route);
    }
  });

  it("summarises each job's audit of the last 24 hours with the API's numbers", async () => {
    for (const job of ['heartbeat', 'nightly-report', 'invoice-sync']) {
      const summary = pageA.getByTestId(`job-${job}-audit`);
      await summary.scrollIntoViewIfNeeded();
      await expect
        .poll(async () => {
          const audit = answer<AuditResponse>('A', `/api/v1/audit?job=${job}`)?.jobs[0];
          if (!audit) return 'no answer yet';
          const shown = await summary.innerText();
          const n = (x: number) => x.toLocaleString('en-US');
          const want = [
            `last 24 h: ${n(audit.expected)} expected`,
            `${n(audit.counts.ran)} ran once`,
            ...(['skipped', 'refused', 'missing', 'duplicate'] as const)
              .filter((k) => audit.counts[k] > 0)
              .map((k) => `${n(audit.counts[k])} ${k}`),
          ];
          const missing = want.filter((w) => !shown.includes(w));
          return missing.length === 0 ? 'ok' : `"${shown}" lacks ${missing.join('; ')}`;
        })
        .toBe('ok');
    }
    // The every-2-seconds job has run: its summary counts instants.
    const heartbeat = answer<AuditResponse>('A', '/api/v1/audit?job=heartbeat')!.jobs[0]!;
    expect(heartbeat.expected).toBeGreaterThan(0);
  });

  it("previews a backfill with the API's count, starts it and follows it to done; the runs join the history", async () => {
    // A browser in India (UTC+05:30, no daylight saving): the form's times are its wall times.
    const page = await openPage(`${replicas[1]!.http}/#token=${TOKEN}`, 'D', {
      timezoneId: 'Asia/Kolkata',
    });
    const id = `job-${JOB}-backfill`;
    await page.getByTestId(`job-${JOB}-runs`).locator('summary').click();
    await page.getByTestId(`${id}-form`).waitFor();
    expect(await page.getByTestId(`${id}-preview`).isDisabled()).toBe(false);

    // Two past weeks of a weekday-mornings job that never ran then.
    const second = 1000;
    const now = Math.floor(Date.now() / second) * second;
    const fromMs = now - 15 * 86_400_000;
    const toMs = now - 86_400_000;
    const kolkata = (ms: number) => new Date(ms + 330 * 60_000).toISOString().slice(0, 19);
    await page.getByTestId(`${id}-from`).fill(kolkata(fromMs));
    await page.getByTestId(`${id}-to`).fill(kolkata(toMs));
    const range = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };

    const [previewReq] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith(`/api/v1/jobs/${JOB}/backfill`)),
      page.getByTestId(`${id}-preview`).click(),
    ]);
    expect(previewReq.postDataJSON()).toEqual({ ...range, dryRun: true });
    const dry = await fetch(`${replicas[0]!.http}/api/v1/jobs/${JOB}/backfill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...range, dryRun: true } satisfies BackfillRequest),
    });
    const plan = (await dry.json()) as BackfillPlan;
    expect(plan.count).toBeGreaterThanOrEqual(9); // 10 or 11 weekdays in 14 days
    expect(plan.run).toBe(plan.count);
    await expect.poll(() => text(page, `${id}-plan-count`)).toBe(String(plan.count));
    expect(await text(page, `${id}-plan`)).toContain('overlap buffer'); // the job forbids overlap

    // A rule the API enforces, shown as it words it: no overlapping runs for this job.
    await page.getByTestId(`${id}-overlap`).selectOption('allow');
    await page.getByTestId(`${id}-preview`).click();
    await expect.poll(() => text(page, `${id}-error`)).toContain('has overlap: forbid');
    expect(await text(page, `${id}-error`)).toContain('400 BAD_REQUEST');
    expect(await page.getByTestId(`${id}-plan`).isVisible()).toBe(false);
    await page.getByTestId(`${id}-overlap`).selectOption('');
    await page.getByTestId(`${id}-rate`).fill('50');

    const [started] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/v1/jobs/${JOB}/backfill`)),
      page.getByTestId(`${id}-start`).click(),
    ]);
    expect(started.status()).toBe(202);
    const request = (await started.json()) as BackfillRecord;
    expect(request).toMatchObject({ ...range, rate: 50, overlap: 'buffer' });
    const progress = page.getByTestId(`${id}-progress`);
    await expect.poll(() => progress.getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    expect(await progress.getAttribute('data-id')).toBe(request.id);
    const record = (await (
      await fetch(`${replicas[0]!.http}/api/v1/backfills/${request.id}`)
    ).json()) as BackfillRecord;
    expect(record.total).toBe(plan.count);
    expect(record.enqueued).toBe(plan.count);
    expect(await progress.innerText()).toContain(`${plan.count} of ${plan.count} decided`);

    // Every run is in the job's history, and the open details list the newest of them.
    await waitFor(
      async () => {
        const res = await fetch(`${replicas[0]!.http}/api/v1/jobs/${JOB}/history?limit=200`);
        const history = (await res.json()) as JobHistory;
        const done = history.entries.filter(
          (e) =>
            e.kind === 'run' && e.fireId.startsWith(`${JOB}@backfill-`) && e.status === 'completed',
        );
        return done.length === plan.count;
      },
      { timeoutMs: 30_000, description: 'every backfill run completed in the history' },
    );
    await page
      .getByTestId(`job-${JOB}-recent`)
      .locator(`li[data-fire-id^="${JOB}@backfill-"][data-status="completed"]`)
      .first()
      .waitFor({ timeout: 20_000 });

    // At phone width the form fits.
    await page.setViewportSize({ width: 375, height: 812 });
    const form = page.getByTestId(`${id}-form`);
    await form.scrollIntoViewIfNeeded();
    const box = (await form.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(375);
    await expect
      .poll(() => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'))
      .toBeLessThanOrEqual(0);
    await screenshot(page, 'dashboard-backfill-phone.png');
    await page.context().close();
  });

  it("lists the job's backfills in its details; Cancel stops a running one and the list shows it cancelled", async () => {
    const page = await openPage(`${replicas[0]!.http}/#token=${TOKEN}`, 'E');
    const id = `job-${JOB}-backfill`;
    // A long backfill, one run at a time (the job forbids overlap) at 1/s: still running when
    // the button is pressed.
    const toMs = Date.now() - 20 * 86_400_000;
    const body: BackfillRequest = {
      from: new Date(toMs - 300 * 86_400_000).toISOString(),
      to: new Date(toMs).toISOString(),
      rate: 1,
    };
    const res = await fetch(`${replicas[0]!.http}/api/v1/jobs/${JOB}/backfill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    const request = (await res.json()) as BackfillRecord;
    await page.getByTestId(`job-${JOB}-runs`).locator('summary').click();
    const item = page.getByTestId(`${id}-item-${request.id}`);
    await expect.poll(() => item.getAttribute('data-state')).toMatch(/^(pending|running)$/);
    const cancel = page.getByTestId(`${id}-cancel-${request.id}`);
    expect(await cancel.isDisabled()).toBe(false);

    const [answered] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/v1/backfills/${request.id}/cancel`)),
      cancel.click(),
    ]);
    expect(answered.status()).toBe(200);
    await expect.poll(() => item.getAttribute('data-state')).toBe('cancelled');
    const record = (await (
      await fetch(`${replicas[0]!.http}/api/v1/backfills/${request.id}`)
    ).json()) as BackfillRecord;
    expect(record.state).toBe('cancelled');
    expect(await item.innerText()).toContain(`cancelled by ${record.cancel!.by}`);
    expect(await cancel.count()).toBe(0);
    await page.context().close();
  });

  it('fits a phone-width screen: no horizontal scroll, every job card visible', async () => {
    await pageA.setViewportSize({ width: 375, height: 812 });
    await expect
      .poll(() =>
        pageA.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
      )
      .toBeLessThanOrEqual(0);
    for (const job of ['heartbeat', 'nightly-report', 'invoice-sync']) {
      const card = pageA.getByTestId(`job-${job}`);
      await card.scrollIntoViewIfNeeded();
      const box = await card.boundingBox();
      expect(box, job).not.toBeNull();
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(375);
      expect(await card.getByTestId(`job-${job}-trigger`).isVisible()).toBe(true);
    }
    // The open details (timeline, chart) and the cluster timeline fit as well.
    for (const id of ['job-heartbeat-timeline', 'job-heartbeat-chart', 'leader-timeline']) {
      const el = pageA.getByTestId(id);
      await el.scrollIntoViewIfNeeded();
      const box = (await el.boundingBox())!;
      expect(box.x, id).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, id).toBeLessThanOrEqual(375);
    }
    await expect
      .poll(() =>
        pageA.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
      )
      .toBeLessThanOrEqual(0);
    await screenshot(pageA, 'dashboard-phone.png');
  });

  it('shows a fail-over in the cluster timeline when the leader is killed', async () => {
    const before = await getStatus(ctx);
    const old = replicas.find((r) => r.id === before.leader)!;
    // Watch from a page whose replica survives.
    const [page, http] =
      old.id === 'dash-a' ? [pageB, replicas[1]!.http] : [pageA, replicas[0]!.http];
    await page.setViewportSize({ width: 1280, height: 900 });
    await old.kill9();
    const after = await waitForLeader(ctx, (s) => s.leader !== null && s.leader !== old.id);
    const terms = page.getByTestId('leader-term');
    // Newest first: the new leader's term, marked as a fail-over from the killed one.
    await expect
      .poll(
        async () => [
          await terms.first().getAttribute('data-replica'),
          await terms.first().getAttribute('data-failover'),
        ],
        { timeout: 30_000 },
      )
      .toEqual([after.leader, old.id]);
    const res = await fetch(`${http}/api/v1/cluster/leaders`);
    const api = (await res.json()) as LeadersResponse;
    const shown = await terms.evaluateAll((els) => els.map((e) => e.getAttribute('data-token')));
    expect(shown).toEqual(api.terms.map((t) => t.token).reverse());
    expect(api.terms.length).toBeGreaterThanOrEqual(2);
    expect(api.terms.at(-2)!.replica).toBe(old.id);
    expect(api.terms.at(-2)!.end).toBe(api.terms.at(-1)!.start);
    expect(api.terms.at(-1)).toMatchObject({
      replica: after.leader,
      token: after.token,
      end: null,
    });
    const bad = await fetch(`${http}/api/v1/cluster/leaders?since=yesterday`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain(
      'since must be an ISO 8601 time',
    );
    await screenshot(page, 'dashboard-failover.png');
    expect(problems).toEqual([]);
  });
});
