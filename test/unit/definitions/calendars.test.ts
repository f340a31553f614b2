import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../../src/errors.js';
import {
  definitionsHash,
  displayPath,
  loadDefinitions,
  parseDefinitionsFile,
} from '../../../src/definitions/index.js';
import { assemble, type LoadResult } from '../../../src/definitions/load.js';
import type { FileResult } from '../../../src/definitions/parse.js';

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-calendars-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

/** Problems as `name:line:col: message` (file name without its folder). */
function problems(result: LoadResult): string[] {
  return result.problems.map((p) => formatProblem({ ...p, file: path.basename(p.file) }));
}

const JOB = `name: dialer
schedule: '0 9 * * 1-5'
timezone: America/New_York
`;
const HOLIDAYS = `calendars:
  - calendar: us-holidays
    description: US federal holidays
    holidays: { country: US }
  - calendar: closures
    dates: [2026-12-24, 2026-12-28..2026-12-31]
`;

describe('calendars and exclusions in definitions', () => {
  it('resolves calendars by name and embeds their content; the window is read in the job zone', async () => {
    const dir = await folder({
      'calendars.yaml': HOLIDAYS,
      'dialer.yaml': `${JOB}exclude:\n  - 2026-11-27\n  - calendar: us-holidays\n  - { calendar: closures }\nactiveFrom: 2026-12-01\nactiveUntil: 2027-06-30T17:00:00Z\n`,
    });
    const result = await loadDefinitions(dir);
    expect(problems(result)).toEqual([]);
    expect(result.calendars.map((c) => c.name)).toEqual(['us-holidays', 'closures']);
    const [job] = result.jobs;
    expect(job!.exclude).toEqual([
      { from: '2026-11-27', to: '2026-11-27' },
      {
        calendar: {
          name: 'us-holidays',
          dates: [],
          holidays: { country: 'US', state: null, region: null, types: ['public'] },
        },
      },
      {
        calendar: {
          name: 'closures',
          dates: [
            { from: '2026-12-24', to: '2026-12-24' },
            { from: '2026-12-28', to: '2026-12-31' },
          ],
          holidays: null,
        },
      },
    ]);
    expect(job!.activeFrom).toEqual({ text: '2026-12-01', ms: Date.parse('2026-12-01T05:00:00Z') });
    expect(job!.activeUntil).toEqual({
      text: '2027-06-30T17:00:00Z',
      ms: Date.parse('2027-06-30T17:00:00Z'),
    });
  });

  it('a job without the new keys hashes as before (they are absent, not defaults)', () => {
    const plain = parseDefinitionsFile('a.yaml', JOB).jobs;
    expect(Object.keys(plain[0]!)).not.toContain('exclude');
    expect(Object.keys(plain[0]!)).not.toContain('activeFrom');
    expect(definitionsHash(plain)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names bad dates, bad entries, impossible windows and unknown calendars at file:line:col', async () => {
    const dir = await folder({
      'calendars.yaml': HOLIDAYS,
      'a.yaml': `${JOB}exclude:\n  - 2026-02-30\n  - 2026-12-26..2026-12-24\n  - { calender: closures }\n  - 5\n`,
      'b.yaml': `${JOB.replace('dialer', 'b')}exclude: [calendar: us-holiday]\nactiveFrom: 2026-12-01\nactiveUntil: 2026-11-30\n`,
      'c.yaml': `${JOB.replace('dialer', 'c')}exclude: [calendar: us-holiday]\nactiveFrom: 2026-12-01T09:00\n`,
      'd.yaml': `${JOB.replace('dialer', 'd')}exclude: [calendar: us-holidays]\n`,
    });
    expect(problems(await loadDefinitions(dir))).toEqual([
      'a.yaml:5:5: bad date "2026-02-30" in exclude[0]: 2026-02 has 28 days (write a date as YYYY-MM-DD (2026-12-25) and a range as YYYY-MM-DD..YYYY-MM-DD (2026-12-24..2026-12-26), both ends included, years 1970-9999)',
      'a.yaml:6:5: bad date range "2026-12-26..2026-12-24" in exclude[1]: it ends before it starts',
      'a.yaml:7:5: unknown key "calender" in exclude[2] (did you mean "calendar"? an entry is a date (2026-12-25), a date range (2026-12-24..2026-12-26) or a calendar ({ calendar: <name> }))',
      'a.yaml:8:5: exclude[3] must be a date (2026-12-25), a date range (2026-12-24..2026-12-26) or a calendar ({ calendar: <name> }), got 5',
      'b.yaml:6:14: activeUntil "2026-11-30" is not later than activeFrom "2026-12-01": the job would never be active (in America/New_York, a date as activeUntil includes the whole day)',
      'c.yaml:5:13: bad activeFrom "2026-12-01T09:00" (it has no offset: add Z or ±hh:mm) (use a date (2026-12-01, in the job\'s time zone) or a date-time with an offset (2026-12-01T09:00:00-05:00 or …Z))',
    ]);
    // Once the window is fixed, the unknown calendar is named at its reference.
    const fixed = await folder({
      'calendars.yaml': HOLIDAYS,
      'b.yaml': `${JOB.replace('dialer', 'b')}exclude:\n  - calendar: us-holiday\n`,
    });
    expect(problems(await loadDefinitions(fixed))).toEqual([
      'b.yaml:5:15: unknown calendar "us-holiday" (did you mean "us-holidays"? calendars: closures, us-holidays; a calendar is a file in the jobs folder with calendar: <name>)',
    ]);
  });

  it('names unknown countries, states, types and keys of a calendar', async () => {
    const dir = await folder({
      'cal.yaml': `calendars:
  - calendar: one
    holidays: { country: USA }
  - calendar: two
    holidays: { country: Germany }
  - calendar: three
    holidays: { country: DE, state: XX, types: [publik] }
  - calendar: four
    dates: [2026-01-01]
    holiday: { country: FR }
  - calendar: five
`,
    });
    const out = problems(await loadDefinitions(dir));
    expect(out[0]).toBe(
      'cal.yaml:3:26: unknown country "USA" (did you mean "US" (United States of America)? use an ISO 3166-1 code that date-holidays knows, such as "US", "DE" or "FR"; it knows 207 countries)',
    );
    expect(out[1]).toMatch(
      /^cal\.yaml:5:26: unknown country "Germany" \(did you mean "DE" \(Germany\)\?/,
    );
    expect(out[2]).toMatch(/^cal\.yaml:7:37: unknown state of DE "XX" \(known: BB, BE, BW, BY, /);
    expect(out[3]).toBe(
      'cal.yaml:10:5: unknown key "holiday" in a calendar (did you mean "holidays"? allowed keys: calendar, description, dates, holidays)',
    );
    expect(out[4]).toBe(
      'cal.yaml:11:5: a calendar needs dates (a list of dates and ranges), holidays ({ country: US }) or both',
    );
    expect(out).toHaveLength(5);
    const types = problems(
      await loadDefinitions(
        await folder({ 'c.yaml': 'calendar: x\nholidays: { country: DE, types: [publik] }\n' }),
      ),
    );
    expect(types).toEqual([
      'c.yaml:2:34: holidays.types[0] must be one of public, bank, school, optional, observance, got "publik" (did you mean "public"?)',
    ]);
  });

  it('duplicate calendar names are problems at every declaration, and unusable', async () => {
    const dir = await folder({
      'a.yaml': 'calendar: days\ndates: [2026-01-01]\n',
      'b.yaml': 'calendar: days\ndates: [2026-01-02]\n',
      'j.yaml': `${JOB}exclude: [calendar: days]\n`,
    });
    expect(problems(await loadDefinitions(dir))).toEqual([
      `a.yaml:1:11: duplicate calendar name "days" (also defined at ${displayPath(path.join(dir, 'b.yaml'))}:1:11)`,
      `b.yaml:1:11: duplicate calendar name "days" (also defined at ${displayPath(path.join(dir, 'a.yaml'))}:1:11)`,
      `j.yaml:4:21: calendar "days" is not in effect: see the problems reported for ${displayPath(path.join(dir, 'b.yaml'))}`,
    ]);
  });

  it('hot reload: a broken calendar file keeps its last good calendar (one message); a removed one keeps the jobs as they were', () => {
    const cal = (text: string): FileResult => parseDefinitionsFile('cal.yaml', text);
    const job = parseDefinitionsFile('job.yaml', `${JOB}exclude: [calendar: closures]\n`);
    const good = cal('calendar: closures\ndates: [2026-12-24]\n');
    const first = assemble(
      new Map([
        ['cal.yaml', good],
        ['job.yaml', job],
      ]),
      new Map(),
    );
    expect(first.result.problems).toEqual([]);
    const before = first.result.jobs[0]!;
    // Broken calendar: one problem (its own), the job unchanged (same object), calendar kept.
    const broken = cal('calendar: closures\ndates: [2026-13-24]\n');
    const second = assemble(
      new Map([
        ['cal.yaml', broken],
        ['job.yaml', job],
      ]),
      first.effective,
      first.calendars,
    );
    expect(second.result.problems.map(formatProblem)).toEqual([
      expect.stringMatching(
        /^cal\.yaml:2:9: bad date "2026-13-24" in dates\[0\]: month 13 does not exist/,
      ),
    ]);
    expect(second.result.jobs[0]).toBe(before);
    expect(second.result.calendars.map((c) => c.name)).toEqual(['closures']);
    // A changed calendar is a changed job.
    const changed = assemble(
      new Map([
        ['cal.yaml', cal('calendar: closures\ndates: [2026-12-24, 2026-12-31]\n')],
        ['job.yaml', job],
      ]),
      second.effective,
      second.calendars,
    );
    expect(definitionsHash(changed.result.jobs)).not.toBe(definitionsHash([before]));
    // Deleted calendar: the job's file has a problem and keeps its last good job.
    const gone = assemble(new Map([['job.yaml', job]]), changed.effective, changed.calendars);
    expect(gone.result.problems.map(formatProblem)).toEqual([
      expect.stringMatching(/^job\.yaml:4:21: unknown calendar "closures"/),
    ]);
    expect(gone.result.jobs).toEqual(changed.result.jobs);
  });
});
