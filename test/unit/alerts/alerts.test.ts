import { describe, expect, it } from 'vitest';
import {
  formatBody,
  missedEvent,
  missedRanges,
  retryDelayMs,
  runEvents,
  type AlertPayload,
} from '../../../src/alerts/events.js';
import { scrub } from '../../../src/alerts/webhook.js';
import { publicAlerts, redactWebhookUrl, targetId } from '../../../src/definitions/alerts.js';
import { parseDefinitionsFile } from '../../../src/definitions/parse.js';
import type { RunRecord } from '../../../src/history/records.js';

const SECRET = 'T000/B000/s3cr3tW3bh00kT0k3n';
const SLACK = `https://hooks.slack.com/services/${SECRET}`;

function parse(text: string) {
  return parseDefinitionsFile('f.yaml', text);
}
function problems(text: string): string[] {
  return parse(text).problems.map((p) => `${p.line}:${p.col}: ${p.message}`);
}

describe('alerts: definitions', () => {
  it('reads targets in every form, with defaults applied', () => {
    const { jobs, problems: p } = parse(
      [
        'name: j',
        'schedule: "@daily"',
        'alerts:',
        `  onFailure: ${SLACK}`,
        '  onRecovered:',
        `    - { url: "${SLACK}", format: slack }`,
        '    - url: https://example.test/hook?token=abc',
        '      headers: { Authorization: Bearer xyz }',
        '',
      ].join('\n'),
    );
    expect(p).toEqual([]);
    expect(jobs[0]!.alerts).toEqual({
      onFailure: [{ url: SLACK, format: 'json', headers: {} }],
      onMissed: [],
      onStale: [],
      onRecovered: [
        { url: SLACK, format: 'slack', headers: {} },
        {
          url: 'https://example.test/hook?token=abc',
          format: 'json',
          headers: { Authorization: 'Bearer xyz' },
        },
      ],
    });
  });

  it("applies a file's defaults per event; a job's own key wins, [] turns one off", () => {
    const { jobs, problems: p } = parse(
      [
        'defaults:',
        '  alerts:',
        '    onFailure: https://a.test/f',
        '    onMissed: https://a.test/m',
        'jobs:',
        '  - name: a',
        '    schedule: "@daily"',
        '  - name: b',
        '    schedule: "@daily"',
        '    alerts: { onFailure: https://b.test/f, onMissed: [] }',
        '',
      ].join('\n'),
    );
    expect(p).toEqual([]);
    const [a, b] = jobs;
    expect(a!.alerts.onFailure.map((t) => t.url)).toEqual(['https://a.test/f']);
    expect(a!.alerts.onMissed.map((t) => t.url)).toEqual(['https://a.test/m']);
    expect(b!.alerts.onFailure.map((t) => t.url)).toEqual(['https://b.test/f']);
    expect(b!.alerts.onMissed).toEqual([]);
  });

  it('names unknown events with a did-you-mean, at file:line:col', () => {
    expect(
      problems('name: j\nschedule: "@daily"\nalerts:\n  onFailur: https://a.test/x\n'),
    ).toEqual([
      '4:3: unknown key "onFailur" in alerts (did you mean "onFailure"? allowed keys: onFailure, onMissed, onStale, onRecovered)',
    ]);
  });

  it('refuses bad URLs, schemes, keys and headers without echoing the URL', () => {
    const text = [
      'name: j',
      'schedule: "@daily"',
      'alerts:',
      `  onFailure: "not a url ${SECRET}"`,
      `  onMissed: { url: "ftp://h.test/${SECRET}" }`,
      '  onStale:',
      `    - url: "${SLACK}"`,
      '      fromat: slack',
      '  onRecovered:',
      `    - url: "${SLACK}"`,
      '      headers: { "Bad Name": x, Content-Type: text/plain }',
      '',
    ].join('\n');
    const out = problems(text);
    expect(out).toEqual([
      '4:14: alerts.onFailure is not a valid URL (use an http:// or https:// URL)',
      '5:20: alerts.onMissed.url has the scheme "ftp:" (use an http:// or https:// URL)',
      '8:7: unknown key "fromat" in alerts.onStale[0] (did you mean "format"? allowed keys: url, format, headers)',
      expect.stringMatching(/^11:30: bad header name "Bad Name"/),
      expect.stringMatching(/^11:\d+: .*header "Content-Type" is set by baton/),
    ]);
    expect(out.join('\n')).not.toContain('s3cr3t');
  });

  it('reports broken defaults at their place and loads no job without them', () => {
    const r = parse(
      ['defaults:', '  alert: {}', 'jobs:', '  - name: a', '    schedule: "@daily"', ''].join('\n'),
    );
    expect(r.problems.map((p) => `${p.line}:${p.col}: ${p.message}`)).toEqual([
      '2:3: unknown key "alert" (did you mean "alerts"? allowed keys: alerts)',
    ]);
    expect(r.jobs).toEqual([]);
  });

  it('shows targets without their secrets', () => {
    expect(redactWebhookUrl(SLACK)).toBe('https://hooks.slack.com/…');
    expect(redactWebhookUrl('https://u:p@h.test:8443/')).toBe('https://redacted@h.test:8443');
    expect(redactWebhookUrl('http://h.test')).toBe('http://h.test');
    const shown = publicAlerts({
      onFailure: [{ url: SLACK, format: 'slack', headers: { Authorization: 'Bearer xyz' } }],
      onMissed: [],
      onStale: [],
      onRecovered: [],
    });
    expect(JSON.stringify(shown)).not.toMatch(/s3cr3t|xyz/);
    expect(shown.onFailure[0]!.id).toBe(
      targetId({ url: SLACK, format: 'slack', headers: { Authorization: 'Bearer xyz' } }),
    );
  });

  it("scrubs a target's URL, path, query and header values from error text", () => {
    const target = {
      url: `${SLACK}?sig=qwerty`,
      format: 'json' as const,
      headers: { 'X-Key': 'hunter22' },
    };
    const text = `failed ${target.url} /services/${SECRET} qwerty hunter22`;
    expect(scrub(text, target)).not.toMatch(/s3cr3t|qwerty|hunter22/);
  });
});

function run(over: Partial<RunRecord>): RunRecord {
  return {
    fireId: 'j@1000',
    job: 'j',
    scheduledAt: new Date(1000).toISOString(),
    status: 'completed',
    reason: null,
    attempt: 1,
    start: 1,
    startedAt: new Date(1000).toISOString(),
    endedAt: new Date(1500).toISOString(),
    durationMs: 500,
    error: null,
    willRetry: false,
    worker: 'w1',
    token: '7',
    manual: false,
    result: null,
    ...over,
  };
}

const ctx = { replica: 'r1', http: 'http://127.0.0.1:8080' };

describe('alerts: events from run records', () => {
  it('raises failure only after the last attempt', () => {
    expect(runEvents(run({ status: 'failed', willRetry: true, attempt: 1 }), null, ctx)).toEqual(
      [],
    );
    const [e] = runEvents(
      run({ status: 'failed', attempt: 3, error: 'boom at https://u:pw@db.test/x' }),
      null,
      ctx,
    );
    expect(e).toMatchObject({
      id: 'failure:j@1000',
      event: 'failure',
      status: 'failed',
      attempts: 3,
      replica: 'r1',
      links: { history: 'http://127.0.0.1:8080/api/v1/jobs/j/history' },
    });
    expect(e!.error).not.toContain('pw');
  });

  it('raises stale for a run the fence refused', () => {
    expect(
      runEvents(run({ status: 'stale', reason: 'stale-token' }), null, ctx).map((e) => e.id),
    ).toEqual(['stale:j@1000']);
  });

  it('raises recovered for a success right after a final failure, and only then', () => {
    const failed = run({ fireId: 'j@500', status: 'failed' });
    const ok = run({ fireId: 'j@1000' });
    expect(runEvents(ok, failed, ctx)).toMatchObject([
      { id: 'recovered:j@1000', recoveredFrom: 'j@500' },
    ]);
    expect(runEvents(ok, run({ fireId: 'j@500' }), ctx)).toEqual([]);
    expect(runEvents(ok, null, ctx)).toEqual([]);
    expect(runEvents(ok, { ...failed, willRetry: true }, ctx)).toEqual([]);
  });
});

describe('alerts: the dead-man check', () => {
  const D = 1000;
  const instants = [10_000, 20_000, 30_000, 40_000, 50_000].map((at) => ({
    at,
    deadlineAt: at + D,
  }));
  const started = (at: number, startedAt = at + 10) =>
    run({ fireId: `j@${at}`, startedAt: new Date(startedAt).toISOString() });

  it('groups consecutive instants with no start into one stretch', () => {
    expect(missedRanges('j', instants, [started(10_000), started(50_000)], [])).toEqual([
      { first: 20_000, last: 40_000, count: 3, reason: 'not-started', deadlineAt: 41_000 },
    ]);
  });

  it('counts a start after the deadline as missed, a failed or running start as not', () => {
    const runs = [
      started(10_000, 10_000 + D + 1),
      { ...started(20_000), status: 'failed' as const },
      { ...started(30_000), status: 'running' as const },
      { ...started(40_000), status: 'skipped' as const, reason: 'overlap' },
      { ...started(50_000), status: 'stale' as const },
    ];
    expect(missedRanges('j', instants, runs, [])).toEqual([
      { first: 10_000, last: 10_000, count: 1, reason: 'not-started', deadlineAt: 11_000 },
      { first: 50_000, last: 50_000, count: 1, reason: 'stale', deadlineAt: 51_000 },
    ]);
  });

  it("takes the leader's catch-up skips as missed and deliberate skips as not", () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const skips = [
      { first: iso(10_000), last: iso(20_000), reason: 'catch-up-latest' },
      { first: iso(30_000), last: iso(40_000), reason: 'paused' },
    ];
    expect(missedRanges('j', instants, [], skips)).toEqual([
      { first: 10_000, last: 20_000, count: 2, reason: 'catch-up-latest', deadlineAt: 21_000 },
      { first: 50_000, last: 50_000, count: 1, reason: 'not-started', deadlineAt: 51_000 },
    ]);
  });

  it('names a stretch by its first instant', () => {
    const e = missedEvent(
      'j',
      { first: 20_000, last: 40_000, count: 3, reason: 'not-started', deadlineAt: 41_000 },
      ctx,
    );
    expect(e).toMatchObject({
      id: 'missed:j@20000',
      fireId: 'j@20000',
      status: 'missed',
      missed: { first: new Date(20_000).toISOString(), count: 3 },
    });
  });
});

describe('alerts: bodies and backoff', () => {
  const payload: AlertPayload = runEvents(
    run({ status: 'failed', attempt: 2, error: 'x < y & z' }),
    null,
    ctx,
  )[0]!;

  it('sends the documented JSON', () => {
    expect(Object.keys(JSON.parse(formatBody(payload, 'json')) as object)).toEqual([
      'id',
      'event',
      'job',
      'fireId',
      'scheduledAt',
      'status',
      'reason',
      'attempts',
      'error',
      'worker',
      'occurredAt',
      'missed',
      'recoveredFrom',
      'replica',
      'links',
    ]);
  });

  it('sends Slack a { text } with mrkdwn escaped', () => {
    const body = JSON.parse(formatBody(payload, 'slack')) as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('job j failed after 2 attempt(s): x &lt; y &amp; z');
    expect(body.text).toContain('<http://127.0.0.1:8080/api/v1/jobs/j/history|history>');
  });

  it('backs off exponentially from 1 s to at most 5 min', () => {
    expect([1, 2, 3, 9, 10, 30].map(retryDelayMs)).toEqual([
      1000, 2000, 4000, 256_000, 300_000, 300_000,
    ]);
  });
});
