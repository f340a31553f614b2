import { redactWebhookUrl, type ResolvedAlertTarget } from '../definitions/alerts.js';
import { formatBody, type AlertPayload } from './events.js';

/** How long one POST may take before it counts as failed (and is retried). */
export const WEBHOOK_TIMEOUT_MS = 10_000;

export type SendResult =
  | { ok: true; status: number }
  | { ok: false; permanent: boolean; status: number | null; error: string };

/**
 * `text` with every secret of `target` replaced: its URL, the URL's path and query, its user
 * info and header values (as written or read from `{ env }` / `{ file }`). Error messages of the
 * HTTP client may quote any of them.
 */
export function scrub(text: string, target: ResolvedAlertTarget): string {
  const secrets = new Set<string>([target.url]);
  try {
    const u = new URL(target.url);
    if (u.pathname.length > 1) secrets.add(u.pathname);
    if (u.search !== '') secrets.add(u.search);
    if (u.username !== '') secrets.add(u.username);
    if (u.password !== '') secrets.add(u.password);
    for (const v of u.searchParams.values()) if (v.length >= 4) secrets.add(v);
    for (const part of u.pathname.split('/')) if (part.length >= 8) secrets.add(part);
  } catch {
    // validated at load: unreachable
  }
  for (const v of Object.values(target.headers)) if (v.length >= 4) secrets.add(v);
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length))
    out = out.split(s).join('[redacted]');
  return out;
}

/**
 * POSTs one event to one webhook: `Content-Type: application/json`, `Baton-Event-Id` (the event
 * id: receivers deduplicate on it), `Baton-Delivery-Attempt`, and the target's own headers.
 * Redirects are not followed (they would carry the headers elsewhere). 2xx is delivered; 4xx
 * other than 408, 425 and 429 is permanent (sending the same body again will not help);
 * anything else is retried.
 */
export async function sendWebhook(
  target: ResolvedAlertTarget,
  payload: AlertPayload,
  attempt: number,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<SendResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? WEBHOOK_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(target.url, {
      method: 'POST',
      redirect: 'manual',
      signal,
      headers: {
        ...target.headers,
        'content-type': 'application/json',
        'baton-event-id': payload.id,
        'baton-delivery-attempt': String(attempt),
      },
      body: formatBody(payload, target.format),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause?.code ?? e.cause?.message;
    const what = timeout.aborted
      ? `no answer within ${options.timeoutMs ?? WEBHOOK_TIMEOUT_MS} ms`
      : `${e.message}${cause ? ` (${cause})` : ''}`;
    return {
      ok: false,
      permanent: false,
      status: null,
      error: scrub(`POST ${redactWebhookUrl(target.url)}: ${what}`, target),
    };
  }
  // The body is not needed: release the connection.
  await res.body?.cancel().catch(() => undefined);
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
  const permanent =
    (res.status >= 300 && res.status < 400) ||
    (res.status >= 400 && res.status < 500 && ![408, 425, 429].includes(res.status));
  return {
    ok: false,
    permanent,
    status: res.status,
    error: `POST ${redactWebhookUrl(target.url)} answered ${res.status}${permanent ? ' (not retried)' : ''}`,
  };
}
