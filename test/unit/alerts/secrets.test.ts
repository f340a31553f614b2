import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrub } from '../../../src/alerts/webhook.js';
import {
  publicAlerts,
  readSecret,
  refLocation,
  resolveTarget,
  targetId,
  unreadableRefs,
  type AlertTarget,
  type SecretRef,
} from '../../../src/definitions/alerts.js';
import { definitionsHash } from '../../../src/definitions/hash.js';
import { parseDefinitionsFile } from '../../../src/definitions/parse.js';
import { openDefinitions } from '../../../src/definitions/source.js';
import { createLogger } from '../../../src/log.js';

const TOKEN = 'Bearer tok3n-s3cr3t-9f3k2';
const URL_SECRET = 'https://hooks.example.test/services/T0/B0/urlS3cr3t7d1x';

function parse(text: string, file = 'jobs/f.yaml') {
  return parseDefinitionsFile(file, text);
}
function problems(text: string): string[] {
  return parse(text).problems.map((p) => `${p.line}:${p.col}: ${p.message}`);
}
function job(alerts: string[]): string {
  return ['name: j', 'schedule: "@daily"', 'alerts:', ...alerts, ''].join('\n');
}

let dir: string;
let secretFile: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'baton-secrets-'));
  secretFile = path.join(dir, 'token');
  // A file written by `echo`: the trailing newline is not part of the value.
  await writeFile(secretFile, `${TOKEN}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('secret references: definitions', () => {
  it('reads { env } and { file } as url and header values, kept as written', () => {
    const { jobs, problems: p } = parse(
      job([
        '  onFailure:',
        '    url: { env: SLACK_WEBHOOK_URL }',
        '    format: slack',
        '  onMissed:',
        '    - url: https://pager.example.test/v1/events',
        '      headers:',
        '        Authorization: { file: /run/secrets/pager-token }',
        '        X-Team: ops',
      ]),
    );
    expect(p).toEqual([]);
    expect(jobs[0]!.alerts.onFailure).toEqual([
      { url: { env: 'SLACK_WEBHOOK_URL' }, format: 'slack', headers: {} },
    ]);
    expect(jobs[0]!.alerts.onMissed).toEqual([
      {
        url: 'https://pager.example.test/v1/events',
        format: 'json',
        headers: { Authorization: { file: '/run/secrets/pager-token' }, 'X-Team': 'ops' },
      },
    ]);
  });

  it('records where each reference is written, also in defaults', () => {
    const { jobs } = parse(
      [
        'defaults:',
        '  alerts:',
        '    onFailure: { url: { env: HOOK_URL } }',
        'jobs:',
        '  - name: a',
        '    schedule: "@daily"',
        '    alerts:',
        '      onMissed:',
        '        - url: https://x.example.test/',
        '          headers: { Authorization: { env: TOKEN } }',
        '  - name: b',
        '    schedule: "@daily"',
        '',
      ].join('\n'),
    );
    const a = jobs.find((j) => j.name === 'a')!;
    const b = jobs.find((j) => j.name === 'b')!;
    const header = a.alerts.onMissed[0]!.headers.Authorization as SecretRef;
    expect(refLocation(header)).toEqual({
      at: 'jobs/f.yaml:10:37',
      label: 'alerts.onMissed[0].headers.Authorization',
    });
    const fromDefaults = b.alerts.onFailure[0]!.url as SecretRef;
    expect(refLocation(fromDefaults)).toEqual({
      at: 'jobs/f.yaml:3:23',
      label: 'defaults.alerts.onFailure.url',
    });
    expect(a.alerts.onFailure[0]!.url).toBe(fromDefaults);
  });

  it('refuses malformed references at file:line:col, saying what is allowed', () => {
    expect(problems(job(['  onFailure: { url: { env: 9LIVES } }']))).toEqual([
      '4:21: alerts.onFailure.url: env "9LIVES" is not an environment variable name (letters, digits and _, not starting with a digit)',
    ]);
    expect(problems(job(['  onFailure: { url: { file: secrets/hook } }']))).toEqual([
      '4:21: alerts.onFailure.url: file "secrets/hook" must be an absolute path (such as /run/secrets/slack-webhook)',
    ]);
    expect(problems(job(['  onFailure: { url: { evn: HOOK } }']))).toEqual([
      '4:21: alerts.onFailure.url must be the value itself, { env: NAME } (an environment variable of the replicas) or { file: /absolute/path } (a secrets file such as /run/secrets/name); got a mapping with "evn" (did you mean "env"?)',
    ]);
    expect(
      problems(
        job(['  onFailure: { url: "https://x.test/", headers: { A: { env: X, file: /y } } }']),
      ),
    ).toEqual([
      '4:54: alerts.onFailure.headers.A names both env and file: a reference reads one of them (write { env: NAME } or { file: /absolute/path })',
    ]);
    expect(problems(job(['  onFailure: { url: [a] }']))).toEqual([
      '4:21: alerts.onFailure.url must be an http:// or https:// URL, { env: NAME } or { file: /absolute/path }',
    ]);
    expect(problems(job(['  onFailure: { format: slack }']))).toEqual([
      '4:14: missing required key "url"',
    ]);
  });

  it('hashes and names targets by the reference, not the value read', () => {
    const text = job(['  onFailure: { url: { env: HOOK_URL } }']);
    const a = parse(text).jobs;
    const b = parse(text).jobs;
    const before = definitionsHash(a);
    process.env.HOOK_URL = URL_SECRET;
    try {
      expect(definitionsHash(b)).toBe(before);
      expect(targetId(b[0]!.alerts.onFailure[0]!)).toBe(targetId(a[0]!.alerts.onFailure[0]!));
    } finally {
      delete process.env.HOOK_URL;
    }
    const other = parse(job(['  onFailure: { url: { env: OTHER_URL } }'])).jobs;
    expect(definitionsHash(other)).not.toBe(before);
  });

  it('shows references by name in public alerts, never a value', () => {
    const target: AlertTarget = {
      url: { env: 'HOOK_URL' },
      format: 'json',
      headers: { Authorization: { file: '/run/secrets/t' }, 'X-Key': 'literal-secret' },
    };
    expect(publicAlerts({ onFailure: [target], onMissed: [], onStale: [], onRecovered: [] }))
      .toMatchInlineSnapshot(`
        {
          "onFailure": [
            {
              "format": "json",
              "headers": {
                "Authorization": "file:/run/secrets/t",
                "X-Key": "[redacted]",
              },
              "id": "${targetId(target)}",
              "url": "env:HOOK_URL",
            },
          ],
          "onMissed": [],
          "onRecovered": [],
          "onStale": [],
        }
      `);
  });
});

describe('secret references: reading', () => {
  it('reads env and file values (a file trimmed of its newline)', async () => {
    expect(await readSecret({ env: 'T' }, { T: TOKEN })).toEqual({ ok: true, value: TOKEN });
    expect(await readSecret({ file: secretFile })).toEqual({ ok: true, value: TOKEN });
  });

  it('says which reference cannot be read, and why, without a value', async () => {
    expect(await readSecret({ env: 'ALERT_TOKEN' }, {})).toEqual({
      ok: false,
      error: 'env ALERT_TOKEN is not set',
    });
    expect(await readSecret({ env: 'ALERT_TOKEN' }, { ALERT_TOKEN: ' ' })).toEqual({
      ok: false,
      error: 'env ALERT_TOKEN is empty',
    });
    const missing = path.join(dir, 'missing');
    expect(await readSecret({ file: missing })).toEqual({
      ok: false,
      error: `file ${missing} cannot be read (ENOENT)`,
    });
    expect(await readSecret({ file: dir })).toEqual({
      ok: false,
      error: `file ${dir} is not a file`,
    });
  });

  it('resolves a target for delivery, checking the values read as written ones are', async () => {
    const { jobs } = parse(
      job([
        '  onFailure:',
        '    url: { env: HOOK_URL }',
        `    headers: { Authorization: { file: ${secretFile} }, X-Team: ops }`,
      ]),
    );
    const target = jobs[0]!.alerts.onFailure[0]!;
    expect(await resolveTarget(target, { HOOK_URL: URL_SECRET })).toEqual({
      ok: true,
      target: {
        url: URL_SECRET,
        format: 'json',
        headers: { Authorization: TOKEN, 'X-Team': 'ops' },
      },
    });
    expect(await resolveTarget(target, {})).toEqual({
      ok: false,
      error: 'env HOOK_URL is not set (alerts.onFailure.url at jobs/f.yaml:5:10)',
    });
    const bad = await resolveTarget(target, { HOOK_URL: 'ftp://u:p@x.test/secret-path' });
    expect(bad).toEqual({
      ok: false,
      error:
        'env HOOK_URL holds a URL that has the scheme "ftp:", not an http:// or https:// URL (alerts.onFailure.url at jobs/f.yaml:5:10)',
    });
    const twoLines = path.join(dir, 'two-lines');
    await writeFile(twoLines, 'Bearer a\nBearer b\n');
    const multi = await resolveTarget(
      { url: 'https://x.test/', format: 'json', headers: { A: { file: twoLines } } },
      {},
    );
    expect(multi).toEqual({
      ok: false,
      error: `file ${twoLines} holds more than one line (a header value is one line) (headers.A)`,
    });
  });

  it('scrubs values read from references out of error text', async () => {
    const resolved = await resolveTarget(
      {
        url: { env: 'HOOK_URL' },
        format: 'json',
        headers: { Authorization: { file: secretFile } },
      },
      { HOOK_URL: URL_SECRET },
    );
    if (!resolved.ok) throw new Error(resolved.error);
    const text = `fetch failed for ${URL_SECRET} with ${TOKEN}; path T0/B0/urlS3cr3t7d1x`;
    const out = scrub(text, resolved.target);
    expect(out).not.toContain('urlS3cr3t7d1x');
    expect(out).not.toContain('tok3n-s3cr3t');
  });
});

describe('secret references: checked at load', () => {
  it('lists each unreadable reference once, at its place, saying what to do', async () => {
    const { jobs } = parse(
      [
        'defaults:',
        '  alerts:',
        '    onFailure: { url: { env: HOOK_URL } }',
        'jobs:',
        '  - name: a',
        '    schedule: "@daily"',
        '    alerts:',
        `      onMissed: { url: "https://x.test/", headers: { Authorization: { file: ${secretFile} } } }`,
        '  - name: b',
        '    schedule: "@daily"',
        '    alerts:',
        '      onStale: { url: "https://x.test/", headers: { Authorization: { env: ALERT_TOKEN } } }',
        '',
      ].join('\n'),
    );
    expect(jobs.map((j) => j.name)).toEqual(['a', 'b']);
    expect(await unreadableRefs(jobs, {})).toEqual([
      {
        at: 'jobs/f.yaml:3:23',
        message:
          'defaults.alerts.onFailure.url: env HOOK_URL is not set on this replica; the job loads, and its deliveries to this webhook fail until it can be read (set HOOK_URL in the environment of every replica, or use { file: /absolute/path })',
      },
      {
        at: 'jobs/f.yaml:12:68',
        message:
          'alerts.onStale.headers.Authorization: env ALERT_TOKEN is not set on this replica; the job loads, and its deliveries to this webhook fail until it can be read (set ALERT_TOKEN in the environment of every replica, or use { file: /absolute/path })',
      },
    ]);
    expect(await unreadableRefs(jobs, { HOOK_URL: URL_SECRET, ALERT_TOKEN: TOKEN })).toEqual([]);
  });

  it('a replica warns of them as it loads, and keeps every job', async () => {
    const folder = await mkdtemp(path.join(dir, 'jobs-'));
    const file = path.join(folder, 'j.yaml');
    await writeFile(
      file,
      job(['  onFailure: { url: { env: BATON_TEST_UNSET_HOOK_8c1 } }']).replace(
        'name: j',
        'name: j',
      ),
    );
    const lines: string[] = [];
    const logger = createLogger(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const source = await openDefinitions({ dir: folder, watch: false, logger, checkSecrets: true });
    expect(source.current().map((j) => j.name)).toEqual(['j']);
    await expect.poll(() => lines.length).toBe(1);
    const line = JSON.parse(lines[0]!) as { msg: string; problem: string };
    expect(line.msg).toBe('alert secret unreadable');
    expect(line.problem).toMatch(
      /j\.yaml:4:21: alerts\.onFailure\.url: env BATON_TEST_UNSET_HOOK_8c1 is not set on this replica; the job loads/,
    );
  });
});
