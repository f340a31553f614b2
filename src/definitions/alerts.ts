import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { excerpt } from '../text.js';
import { didYouMean } from './suggest.js';

/**
 * The `alerts:` block of a job (and of a file's `defaults:`): which webhooks hear of which event.
 * Every event key names one target or a list of targets; a target is a URL, or a mapping with
 * `url`, `format` (`json` or `slack`) and `headers`. URLs and header values may hold secrets:
 * they are never printed (see {@link redactWebhookUrl}, {@link publicAlerts}). Either may also be
 * a reference, `{ env: NAME }` or `{ file: /path }`, kept as written in the definition (and so in
 * its hash) and read by the leader when it delivers ({@link resolveTarget}).
 */

/** The events a job can alert on, in the order they are documented. */
export const ALERT_EVENTS = ['onFailure', 'onMissed', 'onStale', 'onRecovered'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];
export const ALERT_TARGET_KEYS = ['url', 'format', 'headers'] as const;
export const ALERT_FORMATS = ['json', 'slack'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

/**
 * Where a secret is read when a webhook is delivered: an environment variable of the delivering
 * replica, or a file (a Docker or Kubernetes secret such as `/run/secrets/slack-webhook`).
 */
export type SecretRef = { env: string } | { file: string };
/** A URL or header value: written out, or a {@link SecretRef}. */
export type SecretText = string | SecretRef;

/** One webhook, as defined: its URL and header values may be references. */
export interface AlertTarget {
  /** http:// or https:// URL (may carry a secret in its path, query or user info), or a reference. */
  url: SecretText;
  /** @defaultValue 'json' */
  format: AlertFormat;
  /** Extra request headers (values may be secrets, or references). @defaultValue {} */
  headers: Record<string, SecretText>;
}

/** A webhook with its references read: what is sent to. Every string may be a secret. */
export interface ResolvedAlertTarget {
  url: string;
  format: AlertFormat;
  headers: Record<string, string>;
}

/** The webhooks of each event (an empty list: no alert). */
export type AlertsPolicy = Record<AlertEvent, AlertTarget[]>;

/** A job without `alerts:` (and no file default). */
export function noAlerts(): AlertsPolicy {
  return { onFailure: [], onMissed: [], onStale: [], onRecovered: [] };
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Headers baton sets itself (a target may not replace them). */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'baton-event-id']);

/** Environment variable names a reference may use. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
/** What a URL or header value may be, for messages. */
export const SECRET_FORMS =
  'the value itself, { env: NAME } (an environment variable of the replicas) or { file: /absolute/path } (a secrets file such as /run/secrets/name)';

/** `value` is a mapping (a reference, or a mistake). */
function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * What is wrong with a reference as written (`%s` stands for where it is), or null. Names and
 * paths are echoed: they are not secrets.
 */
function refProblem(value: Record<string, unknown>): string | null {
  const keys = Object.keys(value);
  const known = keys.filter((k) => k === 'env' || k === 'file');
  if (known.length === 2)
    return '%s names both env and file: a reference reads one of them (write { env: NAME } or { file: /absolute/path })';
  if (known.length !== 1 || keys.length !== 1) {
    const unknown = keys.find((k) => k !== 'env' && k !== 'file');
    const guess = unknown === undefined ? undefined : didYouMean(unknown, ['env', 'file']);
    const got =
      keys.length === 0
        ? 'an empty mapping'
        : `a mapping with ${keys.map((k) => excerpt(k)).join(', ')}${guess === undefined ? '' : ` (did you mean ${JSON.stringify(guess)}?)`}`;
    return `%s must be ${SECRET_FORMS}; got ${got}`;
  }
  const [key] = known as ['env' | 'file'];
  const name = value[key];
  if (typeof name !== 'string' || name === '')
    return `%s: ${key} must name ${key === 'env' ? 'an environment variable' : 'a file'}, got ${name === '' ? 'an empty string' : typeof name}`;
  if (key === 'env' && !ENV_NAME.test(name))
    return `%s: env ${excerpt(name)} is not an environment variable name (letters, digits and _, not starting with a digit)`;
  if (key === 'file' && !path.isAbsolute(name))
    return `%s: file ${excerpt(name)} must be an absolute path (such as /run/secrets/slack-webhook)`;
  return null;
}

/** Why `value` is not an http(s) URL (words that do not echo it: it may be a secret), or null. */
function urlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `has the scheme ${JSON.stringify(url.protocol)}`;
  return null;
}

/** `url:` a URL or a reference. */
const urlValue = z.unknown().superRefine((value, ctx) => {
  if (value === undefined) {
    ctx.addIssue({ code: 'invalid_type', expected: 'string', input: value });
  } else if (typeof value === 'string') {
    // The value is never echoed: it may be a secret.
    const what = urlProblem(value);
    if (what !== null)
      ctx.addIssue({ code: 'custom', message: what, params: { kind: 'alertUrl', what } });
  } else if (isMapping(value)) {
    const problem = refProblem(value);
    if (problem !== null)
      ctx.addIssue({ code: 'custom', message: problem, params: { kind: 'labelled' } });
  } else {
    ctx.addIssue({
      code: 'custom',
      message: `%s must be an http:// or https:// URL, { env: NAME } or { file: /absolute/path }`,
      params: { kind: 'labelled' },
    });
  }
}) as z.ZodType<SecretText>;

const headersMap = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  for (const [name, v] of Object.entries(value)) {
    if (!HEADER_NAME.test(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `bad header name ${JSON.stringify(name.slice(0, 40))} (use letters, digits and - only)`,
        path: [name],
      });
    } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      ctx.addIssue({
        code: 'custom',
        message: `header ${JSON.stringify(name)} is set by baton and cannot be replaced`,
        path: [name],
      });
    } else if (isMapping(v)) {
      const problem = refProblem(v);
      if (problem !== null)
        ctx.addIssue({
          code: 'custom',
          message: problem,
          params: { kind: 'labelled' },
          path: [name],
        });
    } else if (typeof v !== 'string' || /[\r\n\0]/.test(v)) {
      // The value is never echoed: it may be a secret.
      ctx.addIssue({
        code: 'custom',
        message: `header ${JSON.stringify(name)} must be a string on one line, { env: NAME } or { file: /absolute/path }`,
        path: [name],
      });
    }
  }
}) as z.ZodType<Record<string, SecretText>>;

const targetObject = z.strictObject({
  url: urlValue,
  format: z.enum(ALERT_FORMATS).optional(),
  headers: headersMap.optional(),
});

/** `url` alone is short for `{ url }`; one target is short for a list of one. */
const targets = z.preprocess(
  (v) => (v === null ? [] : Array.isArray(v) ? v : [v]),
  z.array(z.preprocess((t) => (typeof t === 'string' ? { url: t } : t), targetObject)),
);

/** The zod schema of an `alerts:` mapping as written. */
export const alertsSchema = z.strictObject({
  onFailure: targets.optional(),
  onMissed: targets.optional(),
  onStale: targets.optional(),
  onRecovered: targets.optional(),
});

export type AlertsInput = z.output<typeof alertsSchema>;

/** Applies the defaults of every target; `fallback` fills the events `input` leaves out. */
export function resolveAlerts(
  input: AlertsInput | undefined,
  fallback: AlertsPolicy | undefined,
): AlertsPolicy {
  const out = noAlerts();
  for (const event of ALERT_EVENTS) {
    const written = input?.[event];
    out[event] =
      written === undefined
        ? (fallback?.[event] ?? []).map((t) => ({ ...t, headers: { ...t.headers } }))
        : written.map((t) => ({
            url: t.url,
            format: t.format ?? 'json',
            headers: { ...t.headers },
          }));
  }
  return out;
}

/** Texts for the schema's messages (see schema.ts), keyed by path pattern. */
export const ALERTS_EXPECTED: Record<string, string> = {
  alerts: `a mapping with ${ALERT_EVENTS.join(', ')}`,
  ...Object.fromEntries(
    ALERT_EVENTS.flatMap((e) => [
      [`alerts.${e}`, 'a webhook URL, a mapping with url, format, headers, or a list of them'],
      [`alerts.${e}.*`, 'a webhook URL or a mapping with url, format, headers'],
      [
        `alerts.${e}.*.url`,
        'an http:// or https:// URL, { env: NAME } or { file: /absolute/path }',
      ],
      [
        `alerts.${e}.*.headers`,
        'a mapping of header names to strings, { env: NAME } or { file: /absolute/path }',
      ],
    ]),
  ),
};

/** Keys allowed at each path pattern inside `alerts` (for unknown-key messages). */
export const ALERTS_KEYS_AT: Record<string, readonly string[]> = {
  alerts: ALERT_EVENTS,
  ...Object.fromEntries(ALERT_EVENTS.map((e) => [`alerts.${e}.*`, ALERT_TARGET_KEYS])),
};

/**
 * A webhook URL safe to print: scheme, host and port only. Webhook secrets live in the path
 * (Slack's `/services/T…/B…/X…`), the query or the user info, so all of those are left out.
 * A reference is shown as itself (`env:NAME`, `file:/path`): its name is not the secret.
 */
export function redactWebhookUrl(url: SecretText): string {
  if (typeof url !== 'string') return describeRef(url);
  try {
    const u = new URL(url);
    const rest = u.pathname !== '/' || u.search !== '' || u.hash !== '' ? '/…' : '';
    const user = u.username !== '' || u.password !== '' ? 'redacted@' : '';
    return `${u.protocol}//${user}${u.host}${rest}`;
  } catch {
    return '[invalid URL]';
  }
}

/** A reference as printed: `env:NAME` or `file:/path`. */
export function describeRef(ref: SecretRef): string {
  return 'env' in ref ? `env:${ref.env}` : `file:${ref.file}`;
}

/**
 * A stable id of a target (sha256 of url, format and headers as defined, references unread, 16
 * hex digits): names the target in Redis and logs without revealing it.
 */
export function targetId(target: AlertTarget): string {
  const headers = Object.entries(target.headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([target.url, target.format, headers]))
    .digest('hex')
    .slice(0, 16);
}

/** A target as shown by the API and the dashboard: URL redacted, header values hidden. */
export interface PublicAlertTarget {
  url: string;
  format: AlertFormat;
  headers: Record<string, string>;
  id: string;
}

/**
 * The alerts of a job without any secret (for the API, the dashboard and logs): URLs redacted,
 * written header values `[redacted]`, references shown as `env:NAME` / `file:/path`.
 */
export function publicAlerts(policy: AlertsPolicy): Record<AlertEvent, PublicAlertTarget[]> {
  const out = {} as Record<AlertEvent, PublicAlertTarget[]>;
  for (const event of ALERT_EVENTS) {
    out[event] = policy[event].map((t) => ({
      url: redactWebhookUrl(t.url),
      format: t.format,
      headers: Object.fromEntries(
        Object.entries(t.headers).map(([k, v]) => [
          k,
          typeof v === 'string' ? '[redacted]' : describeRef(v),
        ]),
      ),
      id: targetId(t),
    }));
  }
  return out;
}

// --- references ----------------------------------------------------------------------------------

/** Where a reference is written: `file:line:col` and the key (`alerts.onFailure.url`). */
export interface RefLocation {
  at: string;
  label: string;
}

/**
 * Where each reference was written, set by the parser. Kept beside the definition rather than in
 * it: the definitions hash covers what a job does, not where it is written.
 */
const locations = new WeakMap<SecretRef, RefLocation>();

/** Records where `ref` is written (the parser calls this). */
export function locateRef(ref: SecretRef, location: RefLocation): void {
  locations.set(ref, location);
}

/** Where `ref` is written, when the parser recorded it. */
export function refLocation(ref: SecretRef): RefLocation | undefined {
  return locations.get(ref);
}

/** The references of a target, with the key each stands at (`url`, `headers.Authorization`). */
export function targetRefs(target: AlertTarget): { key: string; ref: SecretRef }[] {
  const out: { key: string; ref: SecretRef }[] = [];
  if (typeof target.url !== 'string') out.push({ key: 'url', ref: target.url });
  for (const [name, v] of Object.entries(target.headers))
    if (typeof v !== 'string') out.push({ key: `headers.${name}`, ref: v });
  return out;
}

/** The largest secrets file read (a URL or a header value, not a certificate bundle). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

export type SecretResult = { ok: true; value: string } | { ok: false; error: string };

/**
 * Reads one reference on this process: the environment variable, or the file (its content
 * trimmed of surrounding whitespace, so a trailing newline does not count). The error names the
 * reference, never a value: `env ALERT_TOKEN is not set`.
 */
export async function readSecret(
  ref: SecretRef,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SecretResult> {
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined) return { ok: false, error: `env ${ref.env} is not set` };
    if (value.trim() === '') return { ok: false, error: `env ${ref.env} is empty` };
    return { ok: true, value };
  }
  let text: string;
  try {
    const info = await stat(ref.file);
    if (!info.isFile()) return { ok: false, error: `file ${ref.file} is not a file` };
    if (info.size > MAX_SECRET_FILE_BYTES)
      return { ok: false, error: `file ${ref.file} is larger than 64 KiB` };
    text = await readFile(ref.file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      ok: false,
      error: `file ${ref.file} cannot be read (${typeof code === 'string' ? code : 'error'})`,
    };
  }
  const value = text.trim();
  if (value === '') return { ok: false, error: `file ${ref.file} is empty` };
  return { ok: true, value };
}

export type ResolvedTargetResult =
  { ok: true; target: ResolvedAlertTarget } | { ok: false; error: string };

/**
 * `target` with its references read (the leader calls this for each delivery attempt, so a
 * rotated secrets file is picked up). The values read are checked as written ones are at load:
 * the URL must be http(s), a header value one line. Errors name the reference and the key,
 * never the value: `env ALERT_TOKEN is not set (headers.Authorization)`.
 */
export async function resolveTarget(
  target: AlertTarget,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedTargetResult> {
  const refs = targetRefs(target);
  if (refs.length === 0) return { ok: true, target: target as ResolvedAlertTarget };
  const resolved: ResolvedAlertTarget = {
    url: typeof target.url === 'string' ? target.url : '',
    format: target.format,
    headers: {},
  };
  for (const [name, v] of Object.entries(target.headers))
    if (typeof v === 'string') resolved.headers[name] = v;
  for (const { key, ref } of refs) {
    const where = refLocation(ref);
    const suffix = ` (${where ? `${where.label} at ${where.at}` : key})`;
    const read = await readSecret(ref, env);
    if (!read.ok) return { ok: false, error: read.error + suffix };
    if (key === 'url') {
      const what = urlProblem(read.value);
      if (what !== null)
        return {
          ok: false,
          error: `${describeRef(ref).replace(':', ' ')} ${what === 'is not a valid URL' ? 'does not hold a valid URL' : `holds a URL that ${what}`}, not an http:// or https:// URL${suffix}`,
        };
      resolved.url = read.value;
    } else {
      if (/[\r\n\0]/.test(read.value))
        return {
          ok: false,
          error: `${describeRef(ref).replace(':', ' ')} holds more than one line (a header value is one line)${suffix}`,
        };
      resolved.headers[key.slice('headers.'.length)] = read.value;
    }
  }
  return { ok: true, target: resolved };
}

/** One reference that cannot be read on this process, located where it is written. */
export interface UnreadableRef {
  /** `file:line:col` (or `job <name>` for definitions given without files). */
  at: string;
  message: string;
}

/**
 * The references of `jobs` that this process cannot read now (a variable not set, a file
 * missing), once each: what a replica warns of when it loads definitions. The jobs load anyway;
 * their deliveries to such a webhook fail, with the same reason, until it can be read.
 */
export async function unreadableRefs(
  jobs: readonly Pick<JobLike, 'name' | 'alerts' | 'source'>[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<UnreadableRef[]> {
  const out: UnreadableRef[] = [];
  const seen = new Set<SecretRef>();
  for (const job of jobs) {
    for (const event of ALERT_EVENTS) {
      for (const [i, target] of job.alerts[event].entries()) {
        for (const { key, ref } of targetRefs(target)) {
          // A reference of a file's defaults is one object shared by the file's jobs.
          if (seen.has(ref)) continue;
          seen.add(ref);
          const read = await readSecret(ref, env);
          if (read.ok) continue;
          const where = refLocation(ref);
          const at =
            where?.at ??
            (job.source
              ? `${job.source.file}:${job.source.line}:${job.source.col}`
              : `job ${job.name}`);
          const fix =
            'env' in ref
              ? `set ${ref.env} in the environment of every replica, or use { file: /absolute/path }`
              : 'mount the file on every replica, or use { env: NAME }';
          out.push({
            at,
            message: `${where?.label ?? `alerts.${event}[${i}].${key}`}: ${read.error} on this replica; the job loads, and its deliveries to this webhook fail until it can be read (${fix})`,
          });
        }
      }
    }
  }
  return out;
}

/** What {@link unreadableRefs} reads of a job. */
interface JobLike {
  name: string;
  alerts: AlertsPolicy;
  source?: { file: string; line: number; col: number };
}
