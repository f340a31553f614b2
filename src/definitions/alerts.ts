import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The `alerts:` block of a job (and of a file's `defaults:`): which webhooks hear of which event.
 * Every event key names one target or a list of targets; a target is a URL, or a mapping with
 * `url`, `format` (`json` or `slack`) and `headers`. URLs and header values may hold secrets:
 * they are never printed (see {@link redactWebhookUrl}, {@link publicAlerts}).
 */

/** The events a job can alert on, in the order they are documented. */
export const ALERT_EVENTS = ['onFailure', 'onMissed', 'onStale', 'onRecovered'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];
export const ALERT_TARGET_KEYS = ['url', 'format', 'headers'] as const;
export const ALERT_FORMATS = ['json', 'slack'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

/** One webhook. */
export interface AlertTarget {
  /** http:// or https:// URL (may carry a secret in its path, query or user info). */
  url: string;
  /** @defaultValue 'json' */
  format: AlertFormat;
  /** Extra request headers (values may be secrets). @defaultValue {} */
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

const urlString = z.string().superRefine((value, ctx) => {
  // The value is never echoed: it may be a secret.
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'not a URL',
      params: { kind: 'alertUrl', what: 'is not a valid URL' },
    });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({
      code: 'custom',
      message: 'bad scheme',
      params: { kind: 'alertUrl', what: `has the scheme ${JSON.stringify(url.protocol)}` },
    });
  }
});

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
    } else if (typeof v !== 'string' || /[\r\n\0]/.test(v)) {
      // The value is never echoed: it may be a secret.
      ctx.addIssue({
        code: 'custom',
        message: `header ${JSON.stringify(name)} must be a string on one line`,
        path: [name],
      });
    }
  }
});

const targetObject = z.strictObject({
  url: urlString,
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
            headers: Object.fromEntries(
              Object.entries(t.headers ?? {}).map(([k, v]) => [k, String(v)]),
            ),
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
      [`alerts.${e}.*.url`, 'an http:// or https:// URL'],
      [`alerts.${e}.*.headers`, 'a mapping of header names to strings'],
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
 */
export function redactWebhookUrl(url: string): string {
  try {
    const u = new URL(url);
    const rest = u.pathname !== '/' || u.search !== '' || u.hash !== '' ? '/…' : '';
    const user = u.username !== '' || u.password !== '' ? 'redacted@' : '';
    return `${u.protocol}//${user}${u.host}${rest}`;
  } catch {
    return '[invalid URL]';
  }
}

/**
 * A stable id of a target (sha256 of url, format and headers, 16 hex digits): names the target
 * in Redis and logs without revealing it.
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

/** The alerts of a job without any secret (for the API, the dashboard and logs). */
export function publicAlerts(policy: AlertsPolicy): Record<AlertEvent, PublicAlertTarget[]> {
  const out = {} as Record<AlertEvent, PublicAlertTarget[]>;
  for (const event of ALERT_EVENTS) {
    out[event] = policy[event].map((t) => ({
      url: redactWebhookUrl(t.url),
      format: t.format,
      headers: Object.fromEntries(Object.keys(t.headers).map((k) => [k, '[redacted]'])),
      id: targetId(t),
    }));
  }
  return out;
}
