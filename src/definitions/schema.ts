import { z } from 'zod';
import { compileSchedule } from '../cron/index.js';
import { DURATION_HINT, parseDuration } from './duration.js';
import { excerpt } from '../text.js';
import { checkJson, jsonProblemMessage, type JsonProblem } from './json.js';
import { didYouMean } from './suggest.js';
import { DATE_HINT, parseBound, parseDateRange } from './dates.js';
import type { Exclusion } from '../cron/index.js';
import type { JobDefinition } from './types.js';
import {
  ALERTS_EXPECTED,
  ALERTS_KEYS_AT,
  alertsSchema,
  resolveAlerts,
  type AlertsPolicy,
} from './alerts.js';

/**
 * Job and queue names: 1-63 characters of lowercase letters, digits, `.`, `_`, `-`, starting with
 * a letter or digit. They end up in BullMQ ids (`<job>@<epochMs>`, where `:` is forbidden) and in
 * etcd keys (`<ns>/fires/<job>`), so `@`, `/`, `:` and whitespace are never allowed.
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const NAME_RULE =
  'use 1-63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit';

/** Every key a job mapping may hold, in the order they are documented. */
export const JOB_KEYS = [
  'name',
  'schedule',
  'timezone',
  'handler',
  'queue',
  'payload',
  'catchUp',
  'catchUpLimit',
  'startingDeadline',
  'overlap',
  'jitter',
  'retries',
  'timeout',
  'paused',
  'retention',
  'description',
  'owner',
  'tags',
  'exclude',
  'activeFrom',
  'activeUntil',
  'alerts',
] as const;
/** Every key a file's `defaults:` mapping may hold (applied to each job of the file). */
export const DEFAULTS_KEYS = ['alerts'] as const;
export const RETRY_KEYS = ['attempts', 'backoff', 'delay'] as const;
export const RETENTION_KEYS = ['age', 'count'] as const;

export const DEFAULT_TIMEZONE = 'UTC';
export const DEFAULT_QUEUE = 'baton';
export const DEFAULT_RETRIES = { attempts: 1, backoff: 'exponential', delayMs: 1_000 } as const;
export const DEFAULT_RETENTION = { ageMs: 7 * 86_400_000, count: 1_000 } as const;
export const DEFAULT_CATCH_UP_LIMIT = 100;

const ZONE_HINT = 'use an IANA zone such as "Europe/London" or "UTC"';

/** Zones found valid, so a zone is checked with a new Intl.DateTimeFormat only once. */
const validZones = new Set<string>();

/** True when the runtime's Intl (the same data luxon uses) knows the zone. */
export function isValidTimeZone(zone: string): boolean {
  if (validZones.has(zone)) return true;
  // The longest IANA zone name has 32 characters.
  if (zone.trim() === '' || zone.length > 100) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  validZones.add(zone);
  return true;
}

let zoneNames: string[] | undefined;
function knownZones(): string[] {
  if (zoneNames === undefined) {
    try {
      zoneNames = [...Intl.supportedValuesOf('timeZone'), 'UTC'];
    } catch {
      zoneNames = ['UTC'];
    }
  }
  return zoneNames;
}

/** The error message for a zone that {@link isValidTimeZone} rejects. */
export function unknownZoneMessage(zone: string): string {
  const guess = didYouMean(zone, knownZones());
  return `unknown time zone ${excerpt(zone)} (${guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `}${ZONE_HINT})`;
}

/** Most (expression, zone) outcomes {@link scheduleProblem} remembers before it starts over. */
const MAX_SCHEDULE_CHECKS = 10_000;
/** What compiling an expression in a zone gave: null (it compiles) or the error message. */
const scheduleChecks = new Map<string, string | null>();

/**
 * Why `expression` does not compile in `zone`, or null. Compiling is pure and costs ~7 µs, so
 * each distinct (expression, zone) is compiled once: 100,000 jobs sharing a few schedules
 * compile a few times, not 100,000.
 */
export function scheduleProblem(expression: string, zone: string): string | null {
  const key = `${zone}\u0000${expression}`;
  const known = scheduleChecks.get(key);
  if (known !== undefined) return known;
  let problem: string | null = null;
  try {
    compileSchedule(expression, zone);
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  if (scheduleChecks.size >= MAX_SCHEDULE_CHECKS) scheduleChecks.clear();
  scheduleChecks.set(key, problem);
  return problem;
}

// ---------------------------------------------------------------------------------------------
// zod schema of one job as written in YAML. Custom checks put a `kind` in the issue params so the
// formatter below can word the message with the label of where the value really is.

type Ctx = z.core.$RefinementCtx;

function custom(ctx: Ctx, message: string, path?: (string | number)[]): void {
  ctx.addIssue({ code: 'custom', message, ...(path === undefined ? {} : { path }) });
}

const nameString = (what: 'job name' | 'queue name') =>
  z.string().superRefine((value, ctx) => {
    if (!NAME_PATTERN.test(value)) {
      custom(ctx, `bad ${what} ${excerpt(value)} (${NAME_RULE}; no "@", "/" or ":")`);
    }
  });

const scheduleString = z.string().superRefine((value, ctx) => {
  if (value.trim() === '') {
    custom(ctx, 'schedule is empty (use a cron expression such as "0 9 * * 1-5" or @daily)');
    return;
  }
  const problem = scheduleProblem(value, DEFAULT_TIMEZONE);
  if (problem !== null) custom(ctx, problem);
});

const zoneString = z.string().superRefine((value, ctx) => {
  if (!isValidTimeZone(value)) custom(ctx, unknownZoneMessage(value));
});

const handlerString = z.string().superRefine((value, ctx) => {
  if (!/^\S{1,200}$/.test(value)) {
    custom(
      ctx,
      `bad handler name ${excerpt(value)} (use 1-200 characters without spaces; default is the job name)`,
    );
  }
});

interface DurationOptions {
  /** `null` is accepted (meaning "none"). */
  nullable?: boolean;
  /** 0 is refused. */
  positive?: boolean;
}

/** A duration field: `0`, or a string like `30s`, `1h30m`. Output is milliseconds. */
function duration(options: { nullable: true; positive?: boolean }): z.ZodType<number | null>;
function duration(options?: { nullable?: false; positive?: boolean }): z.ZodType<number>;
function duration(options: DurationOptions = {}): z.ZodType<number | null> {
  return z.unknown().transform((value, ctx): number | null => {
    if (value === null && options.nullable) return null;
    let ms: number;
    try {
      ms = parseDuration(value as string | number);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'bad duration', params: { kind: 'duration' } });
      return z.NEVER;
    }
    if (options.positive && ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'duration must be positive',
        params: { kind: 'positiveDuration', nullable: options.nullable === true },
      });
      return z.NEVER;
    }
    return ms;
  });
}

const positiveInt = z.number().int().positive();

/** Any JSON value within the payload limits (see checkJson). */
const jsonValue = z.unknown().superRefine((value, ctx) => {
  const problem = checkJson(value);
  if (problem !== null) {
    ctx.addIssue({
      code: 'custom',
      message: 'not JSON',
      path: problem.path,
      params: { kind: 'json', problem },
    });
  }
});

const retriesObject = z.strictObject({
  attempts: positiveInt.optional(),
  backoff: z.enum(['fixed', 'exponential']).optional(),
  delay: duration().optional(),
});

const retentionObject = z.strictObject({
  age: duration({ positive: true }).optional(),
  count: positiveInt.optional(),
});

const EXCLUDE_ENTRY_HINT = `a date (2026-12-25), a date range (2026-12-24..2026-12-26) or a calendar ({ calendar: <name> })`;

/**
 * One `exclude:` entry: a date, a date range, or `{ calendar: <name> }`. A calendar comes out
 * with no content: the loader fills it in from the folder's calendars (see calendars.ts).
 */
const excludeEntry = z.unknown().transform((value, ctx): Exclusion => {
  const labelled = (message: string) => {
    ctx.addIssue({ code: 'custom', message, params: { kind: 'labelled' } });
    return z.NEVER;
  };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const unknown = keys.filter((k) => k !== 'calendar');
    if (unknown.length > 0) {
      const key = unknown[0]!;
      const guess = didYouMean(key, ['calendar']);
      return labelled(
        `unknown key ${excerpt(key)} in %s (${guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `}an entry is ${EXCLUDE_ENTRY_HINT})`,
      );
    }
    const name = (value as { calendar?: unknown }).calendar;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      return labelled(
        `%s: calendar must be a calendar name, got ${describeValue(name)} (${NAME_RULE})`,
      );
    }
    return { calendar: { name, dates: [], holidays: null } };
  }
  if (typeof value !== 'string') {
    return labelled(`%s must be ${EXCLUDE_ENTRY_HINT}, got ${describeValue(value)}`);
  }
  const range = parseDateRange(value);
  if ('problem' in range) {
    return labelled(
      range.problem === 'not a date'
        ? `%s must be ${EXCLUDE_ENTRY_HINT}, got ${describeValue(value)} (${DATE_HINT})`
        : range.problem,
    );
  }
  return range;
});

/** `activeFrom` / `activeUntil`: checked for shape here; read in the job's zone by validateJob. */
const boundString = z.string();

/** The zod schema of one job mapping as written in YAML (keys without the `Ms` suffixes). */
export const jobSchema = z.strictObject({
  name: nameString('job name'),
  schedule: scheduleString,
  timezone: zoneString.optional(),
  handler: handlerString.optional(),
  queue: nameString('queue name').optional(),
  payload: jsonValue.optional(),
  catchUp: z.enum(['none', 'latest', 'all']).optional(),
  catchUpLimit: positiveInt.optional(),
  startingDeadline: duration({ nullable: true, positive: true }).optional(),
  overlap: z.enum(['allow', 'forbid', 'replace']).optional(),
  jitter: duration().optional(),
  // `retries: 3` is short for `retries: { attempts: 3 }`.
  retries: z
    .preprocess((v) => (typeof v === 'number' ? { attempts: v } : v), retriesObject)
    .optional(),
  timeout: duration({ nullable: true, positive: true }).optional(),
  paused: z.boolean().optional(),
  // `retention: 30d` is short for `retention: { age: 30d }`.
  retention: z
    .preprocess(
      (v) => (typeof v === 'string' || typeof v === 'number' ? { age: v } : v),
      retentionObject,
    )
    .optional(),
  description: z.string().nullable().optional(),
  owner: z.string().nullable().optional(),
  tags: z.array(z.string().min(1)).optional(),
  exclude: z.array(excludeEntry).optional(),
  activeFrom: boundString.optional(),
  activeUntil: boundString.optional(),
  alerts: alertsSchema.optional(),
});

/** The zod schema of a file's `defaults:` mapping. */
export const defaultsSchema = z.strictObject({
  alerts: alertsSchema.optional(),
});

export type JobInput = z.input<typeof jobSchema>;
export type JobOutput = z.output<typeof jobSchema>;

// ---------------------------------------------------------------------------------------------
// Issues -> messages.

/** One problem of one job, located by its path inside the job mapping. */
export interface JobIssue {
  /** Path inside the job mapping, e.g. `['retries', 'delay']`; `[]` is the mapping itself. */
  path: (string | number)[];
  /** `value`: the value at path; `key`: the key at path (unknown keys); `parent`: the mapping holding path (missing keys). */
  target: 'value' | 'key' | 'parent';
  message: string;
}

/** What a value at a path should be, for "X must be Y, got Z" messages. Keys: dotted paths, `*` for list items. */
const EXPECTED: Record<string, string> = {
  '': 'a mapping with at least name and schedule',
  name: 'a job name string',
  schedule: 'a cron expression string (5 or 6 fields, or a macro such as @daily)',
  timezone: `an IANA time zone name such as "Europe/London" or "UTC"`,
  handler: 'a handler name string',
  queue: 'a queue name string',
  catchUp: 'one of none, latest, all',
  catchUpLimit: 'a positive integer',
  overlap: 'one of allow, forbid, replace',
  retries: 'a number of attempts or a mapping with attempts, backoff, delay',
  'retries.attempts': 'a positive integer (total attempts, including the first)',
  'retries.backoff': 'one of fixed, exponential',
  paused: 'true or false',
  retention: 'a duration (age) or a mapping with age, count',
  'retention.count': 'a positive integer',
  description: 'a string',
  owner: 'a string',
  tags: 'a list of strings',
  'tags.*': 'a non-empty string',
  exclude: `a list of entries, each ${EXCLUDE_ENTRY_HINT}`,
  activeFrom:
    "a date (2026-12-01, in the job's time zone) or a date-time with an offset (2026-12-01T09:00:00-05:00)",
  activeUntil:
    "a date (2026-12-24, in the job's time zone, the whole day included) or a date-time with an offset",
  ...ALERTS_EXPECTED,
};

const KEYS_AT: Record<string, readonly string[]> = {
  '': JOB_KEYS,
  retries: RETRY_KEYS,
  retention: RETENTION_KEYS,
  ...ALERTS_KEYS_AT,
};

/** Describes a YAML value for "got ..." in messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (typeof value === 'string') {
    return excerpt(value, 57);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/**
 * The part of `path` that exists in `raw` as written: `retries: 0` is validated as
 * `retries.attempts` but written (and reported) as `retries`.
 */
function writtenPath(raw: unknown, path: readonly PropertyKey[]): (string | number)[] {
  const out: (string | number)[] = [];
  let at: unknown = raw;
  for (const seg of path) {
    if (at === null || typeof at !== 'object') break;
    const key = typeof seg === 'symbol' ? String(seg) : seg;
    out.push(key);
    at = (at as Record<string | number, unknown>)[key];
  }
  return out;
}

function labelOf(path: readonly (string | number)[]): string {
  return path.length === 0
    ? 'a job'
    : path
        .map((seg, i) => {
          if (typeof seg === 'number') return `[${seg}]`;
          const text = /^[A-Za-z0-9_-]{1,40}$/.test(seg) ? seg : excerpt(seg, 20);
          return i === 0 ? text : `.${text}`;
        })
        .join('');
}

function patternOf(path: readonly (string | number)[]): string {
  return path.map((seg) => (typeof seg === 'number' ? '*' : seg)).join('.');
}

function valueAt(raw: unknown, path: readonly (string | number)[]): unknown {
  let at: unknown = raw;
  for (const seg of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string | number, unknown>)[seg];
  }
  return at;
}

/**
 * An alert target written alone (`onFailure: { url: … }` or `onFailure: https://…`) is validated
 * as item 0 of a list: leave that index out of where the problem is shown.
 */
function writtenAlertPath(raw: unknown, path: (string | number)[]): (string | number)[] {
  if (path[0] !== 'alerts' || path[2] !== 0) return path;
  const event = valueAt(raw, path.slice(0, 2));
  return Array.isArray(event) ? path : [...path.slice(0, 2), ...path.slice(3)];
}

function issueToJobIssues(
  issue: z.core.$ZodIssue,
  raw: unknown,
  topLevel: boolean,
  rootKeys: readonly string[] = JOB_KEYS,
): JobIssue[] {
  const fullPath = issue.path.map((seg) => (typeof seg === 'symbol' ? String(seg) : seg));
  const shownPath = writtenAlertPath(raw, fullPath);
  if (issue.code === 'unrecognized_keys') {
    const where = patternOf(fullPath);
    const allowed = where === '' ? rootKeys : (KEYS_AT[where] ?? []);
    const candidates = topLevel && where === '' ? [...allowed, 'jobs'] : allowed;
    return issue.keys.map((key) => {
      const guess = didYouMean(key, candidates);
      const scope = where === '' ? '' : ` in ${labelOf(fullPath)}`;
      return {
        path: [...shownPath, key],
        target: 'key' as const,
        message: `unknown key ${excerpt(key)}${scope} (${guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `}allowed keys: ${allowed.join(', ')})`,
      };
    });
  }
  const path = writtenPath(raw, shownPath);
  const label = labelOf(path);
  const input = valueAt(raw, path);
  const expected = EXPECTED[patternOf(fullPath)] ?? EXPECTED[patternOf(path)];

  if (issue.code === 'invalid_type' && input === undefined && path.length > 0) {
    const key = path[path.length - 1]!;
    return [{ path, target: 'parent', message: `missing required key ${JSON.stringify(key)}` }];
  }
  if (issue.code === 'custom') {
    const params = (issue.params ?? {}) as {
      kind?: string;
      nullable?: boolean;
      problem?: JsonProblem;
    };
    switch (params.kind) {
      case 'duration':
        return [
          {
            path,
            target: 'value',
            message: `bad duration ${describeValue(input)} for ${label} (${DURATION_HINT})`,
          },
        ];
      case 'positiveDuration':
        return [
          {
            path,
            target: 'value',
            message: `${label} must be longer than 0, got ${describeValue(input)}${params.nullable ? ' (leave it out or use null for none)' : ''}`,
          },
        ];
      case 'labelled':
        return [{ path, target: 'value', message: issue.message.replaceAll('%s', label) }];
      case 'alertUrl':
        // Never the value: a webhook URL may hold a secret.
        return [
          {
            path,
            target: 'value',
            message: `${label} ${(params as { what?: string }).what ?? 'is not a valid URL'} (use an http:// or https:// URL)`,
          },
        ];
      case 'json':
        return [
          {
            path,
            target: 'value',
            message: jsonProblemMessage(label, params.problem!),
          },
        ];
      default:
        return [{ path, target: 'value', message: issue.message }];
    }
  }
  if (issue.code === 'invalid_value' && typeof input === 'string') {
    const values = issue.values.map(String);
    const guess = didYouMean(input, values);
    return [
      {
        path,
        target: 'value',
        message: `${label} must be one of ${values.join(', ')}, got ${describeValue(input)}${guess === undefined ? '' : ` (did you mean ${JSON.stringify(guess)}?)`}`,
      },
    ];
  }
  if (expected !== undefined) {
    const message =
      path.length === 0
        ? `a job must be ${expected}, got ${describeValue(input)}`
        : `${label} must be ${expected}, got ${describeValue(input)}`;
    return [{ path, target: 'value', message }];
  }
  return [{ path, target: 'value', message: `${label}: ${issue.message}` }];
}

/** A job as validated, without its source location. */
export type ValidatedJob = Omit<JobDefinition, 'source'>;

export type ValidateJobResult = { ok: true; job: ValidatedJob } | { ok: false; issues: JobIssue[] };

/**
 * Validates one job mapping (plain JS, as `yaml` produced it) and applies every default.
 * `topLevel` marks a job that is the whole file (then `jobs` is a did-you-mean candidate).
 */
export function validateJob(
  raw: unknown,
  options: { topLevel?: boolean; defaults?: FileDefaults } = {},
): ValidateJobResult {
  const parsed = jobSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((issue) =>
      issueToJobIssues(issue, raw, options.topLevel === true),
    );
    return { ok: false, issues };
  }
  const v = parsed.data;
  const timezone = v.timezone ?? DEFAULT_TIMEZONE;
  // Cron syntax was checked in UTC; compile once more in the real zone. A failure now is the
  // zone's (the schedule module may know fewer zones than Intl).
  if (timezone !== DEFAULT_TIMEZONE) {
    const problem = scheduleProblem(v.schedule, timezone);
    if (problem !== null) {
      return { ok: false, issues: [{ path: ['timezone'], target: 'value', message: problem }] };
    }
  }
  const window = activeWindow(v.activeFrom, v.activeUntil, timezone);
  if (!window.ok) return { ok: false, issues: window.issues };
  const job: ValidatedJob = {
    name: v.name,
    schedule: v.schedule,
    timezone,
    handler: v.handler ?? v.name,
    queue: v.queue ?? DEFAULT_QUEUE,
    payload: v.payload === undefined ? {} : v.payload,
    catchUp: v.catchUp ?? 'latest',
    catchUpLimit: v.catchUpLimit ?? DEFAULT_CATCH_UP_LIMIT,
    startingDeadlineMs: v.startingDeadline ?? null,
    overlap: v.overlap ?? 'allow',
    jitterMs: v.jitter ?? 0,
    retries: {
      attempts: v.retries?.attempts ?? DEFAULT_RETRIES.attempts,
      backoff: v.retries?.backoff ?? DEFAULT_RETRIES.backoff,
      delayMs: v.retries?.delay ?? DEFAULT_RETRIES.delayMs,
    },
    timeoutMs: v.timeout ?? null,
    paused: v.paused ?? false,
    retention: {
      ageMs: v.retention?.age ?? DEFAULT_RETENTION.ageMs,
      count: v.retention?.count ?? DEFAULT_RETENTION.count,
    },
    description: v.description ?? null,
    owner: v.owner ?? null,
    tags: v.tags ?? [],
    alerts: resolveAlerts(v.alerts, options.defaults?.alerts),
  };
  // Absent unless written, so definitions without them hash as before.
  if (v.exclude !== undefined && v.exclude.length > 0) job.exclude = v.exclude;
  if (window.from !== undefined) job.activeFrom = window.from;
  if (window.until !== undefined) job.activeUntil = window.until;
  return { ok: true, job };
}

type Window =
  | { ok: true; from?: { text: string; ms: number }; until?: { text: string; ms: number } }
  | { ok: false; issues: JobIssue[] };

/** Reads `activeFrom` / `activeUntil` in the job's zone; the window must not be empty. */
function activeWindow(
  from: string | undefined,
  until: string | undefined,
  timezone: string,
): Window {
  const issues: JobIssue[] = [];
  const read = (key: 'activeFrom' | 'activeUntil', text: string | undefined) => {
    if (text === undefined) return undefined;
    const ms = parseBound(text, timezone, key === 'activeFrom' ? 'from' : 'until');
    if (typeof ms === 'number') return { text: text.trim(), ms };
    issues.push({ path: [key], target: 'value', message: ms.problem.replaceAll('%s', key) });
    return undefined;
  };
  const f = read('activeFrom', from);
  const u = read('activeUntil', until);
  if (issues.length > 0) return { ok: false, issues };
  if (f !== undefined && u !== undefined && u.ms <= f.ms) {
    return {
      ok: false,
      issues: [
        {
          path: ['activeUntil'],
          target: 'value',
          message: `activeUntil ${excerpt(u.text)} is not later than activeFrom ${excerpt(f.text)}: the job would never be active (in ${timezone}, a date as activeUntil includes the whole day)`,
        },
      ],
    };
  }
  return { ok: true, from: f, until: u };
}

/** What a file's `defaults:` gives every job of the file (a job's own keys win, per event). */
export interface FileDefaults {
  alerts: AlertsPolicy;
}

export type ValidateDefaultsResult =
  { ok: true; defaults: FileDefaults } | { ok: false; issues: JobIssue[] };

/** Validates a file's `defaults:` mapping (paths in issues are inside it). */
export function validateDefaults(raw: unknown): ValidateDefaultsResult {
  const parsed = defaultsSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((issue) =>
      issueToJobIssues(issue, raw, false, DEFAULTS_KEYS),
    );
    return {
      ok: false,
      issues: issues.map((i) =>
        i.path.length === 0 && i.target === 'value'
          ? { ...i, message: `defaults must be a mapping with ${DEFAULTS_KEYS.join(', ')}` }
          : i,
      ),
    };
  }
  return { ok: true, defaults: { alerts: resolveAlerts(parsed.data.alerts, undefined) } };
}
