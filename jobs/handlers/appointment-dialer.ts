import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { StaleTokenError, defineHandler, type RunContext } from '../../src/index.js';
import { InvalidPayloadError, durationMs } from './common.js';

/** `payload` of the `appointment-dialer` job. */
export interface AppointmentDialerPayload {
  /**
   * Base URL of the telephony API; calls are POSTed to `<telephonyUrl>/calls`. Where a deployment
   * decides it, leave it out: the worker's `BATON_TELEPHONY_URL` is used, else
   * {@link DEFAULT_TELEPHONY_URL}.
   */
  telephonyUrl?: string;
  /** JSON array of {@link Appointment}; relative paths are resolved from the worker's cwd. */
  appointmentsFile: string;
  /** Zone whose local date of the fire selects the day's appointments. @defaultValue 'America/New_York' */
  timezone?: string;
  /**
   * Text of the call; `{name}`, `{customer}`, `{date}` and `{times}` are replaced.
   * @defaultValue 'Hello {name}, this is a reminder of your appointment today ({date}) at {times}.'
   */
  message?: string;
  /** Deadline of one HTTP request (ms or a duration such as `10s`). @defaultValue '10s' */
  requestTimeout?: string | number;
}

/** One line of the appointments file. Extra fields are allowed and ignored. */
export interface Appointment {
  /** Customer id: one call per customer and day, keyed `<fireId>:<customer>`. */
  customer: string;
  phone: string;
  /** `YYYY-MM-DD` in the job's zone, or `*` for every day (handy for a demo). */
  date: string;
  /** `HH:mm`, for the message. */
  time: string;
  name?: string;
}

/** What a run returns (kept in the run history). */
export interface AppointmentDialerResult {
  /** The local date whose appointments were called. */
  date: string;
  /** Customers whose call the telephony API confirmed in this run (new or already placed). */
  called: number;
  /** Of those, calls the API had already placed in an earlier attempt (same idempotency key). */
  duplicates: number;
}

const DEFAULT_ZONE = 'America/New_York';
/** The telephony sink's default address (`baton telephony-sink`). */
export const DEFAULT_TELEPHONY_URL = 'http://127.0.0.1:4010';
const DEFAULT_MESSAGE =
  'Hello {name}, this is a reminder of your appointment today ({date}) at {times}.';

const payloadSchema = z.object({
  telephonyUrl: z.url({ protocol: /^https?$/ }).optional(),
  appointmentsFile: z.string().min(1),
  timezone: z.string().min(1).optional(),
  message: z.string().min(1).optional(),
  requestTimeout: z.union([z.string(), z.number()]).optional(),
});

const appointmentSchema = z.looseObject({
  customer: z.string().min(1),
  phone: z.string().min(1),
  date: z.string().regex(/^(\d{4}-\d{2}-\d{2}|\*)$/, 'YYYY-MM-DD or *'),
  time: z.string().regex(/^\d{2}:\d{2}$/, 'HH:mm'),
  name: z.string().min(1).optional(),
});

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** The appointments of `date` (`YYYY-MM-DD`), one entry per customer, in time order. */
export async function appointmentsOn(
  file: string,
  date: string,
): Promise<{ customer: string; phone: string; name: string; times: string[] }[]> {
  const raw: unknown = JSON.parse(await readFile(path.resolve(file), 'utf8'));
  const parsed = z.array(appointmentSchema).safeParse(raw);
  if (!parsed.success) throw new Error(`${file}: ${describe(parsed.error)}`);
  const byCustomer = new Map<
    string,
    { customer: string; phone: string; name: string; times: string[] }
  >();
  const todays = parsed.data
    .filter((a) => a.date === date || a.date === '*')
    .sort((a, b) => a.time.localeCompare(b.time) || a.customer.localeCompare(b.customer));
  for (const a of todays) {
    const entry = byCustomer.get(a.customer);
    if (entry) entry.times.push(a.time);
    else
      byCustomer.set(a.customer, {
        customer: a.customer,
        phone: a.phone,
        name: a.name ?? a.customer,
        times: [a.time],
      });
  }
  return [...byCustomer.values()];
}

async function responseText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 500);
  } catch {
    return '';
  }
}

/**
 * `appointment-dialer`: at its fire, calls every customer with an appointment on the fire's local
 * date. One POST per customer with `Idempotency-Key: <fireId>:<customer>` (the same on every
 * attempt, so a retry after a crash does not call anyone twice: the telephony API answers the
 * repeated key as a duplicate) and `X-Fencing-Token: <token>` (so the API can refuse a run decided
 * by a deposed leader: a `409` fails the run at once, without retry).
 *
 * Any other failure is thrown and the run is retried by its `retries` policy; customers already
 * called are deduplicated by the key. The signal is checked before every call and aborts the
 * request in flight.
 */
export async function runAppointmentDialer(
  ctx: RunContext<AppointmentDialerPayload>,
): Promise<AppointmentDialerResult> {
  const parsed = payloadSchema.safeParse(ctx.payload);
  if (!parsed.success) throw new InvalidPayloadError(ctx.job, describe(parsed.error));
  const payload = parsed.data;
  const telephonyUrl =
    payload.telephonyUrl ?? (process.env.BATON_TELEPHONY_URL || DEFAULT_TELEPHONY_URL);
  if (!z.url({ protocol: /^https?$/ }).safeParse(telephonyUrl).success) {
    throw new InvalidPayloadError(
      ctx.job,
      `BATON_TELEPHONY_URL must be an http(s) URL, got "${telephonyUrl}"`,
    );
  }
  const zone = payload.timezone ?? DEFAULT_ZONE;
  const local = DateTime.fromJSDate(ctx.scheduledAt, { zone });
  if (!local.isValid) throw new InvalidPayloadError(ctx.job, `unknown timezone "${zone}"`);
  const date = local.toISODate() as string;
  const timeoutMs = durationMs(ctx.job, payload.requestTimeout ?? '10s', 'requestTimeout');
  const template = payload.message ?? DEFAULT_MESSAGE;
  const endpoint = `${telephonyUrl.replace(/\/+$/, '')}/calls`;

  const customers = await appointmentsOn(payload.appointmentsFile, date);
  ctx.logger.info({ date, customers: customers.length }, 'dialing the day’s appointments');

  let called = 0;
  let duplicates = 0;
  for (const c of customers) {
    ctx.signal.throwIfAborted();
    const message = template
      .replaceAll('{name}', c.name)
      .replaceAll('{customer}', c.customer)
      .replaceAll('{date}', date)
      .replaceAll('{times}', c.times.join(' and '));
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': `${ctx.fireId}:${c.customer}`,
        'x-fencing-token': ctx.fencingToken,
      },
      body: JSON.stringify({ customer: c.customer, phone: c.phone, message, fireId: ctx.fireId }),
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
    });
    if (res.status === 409) {
      throw new StaleTokenError(
        `telephony refused the call to ${c.customer} for ${ctx.fireId} (fencing token ${ctx.fencingToken}): ${await responseText(res)}`,
      );
    }
    if (!res.ok) {
      throw new Error(
        `telephony answered ${res.status} to the call to ${c.customer} for ${ctx.fireId}: ${await responseText(res)}`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as { duplicate?: unknown };
    called++;
    if (body.duplicate === true) duplicates++;
    ctx.logger.debug({ customer: c.customer, duplicate: body.duplicate === true }, 'call placed');
  }
  ctx.logger.info({ date, called, duplicates }, 'dialing done');
  return { date, called, duplicates };
}

export const appointmentDialer = defineHandler<AppointmentDialerPayload>(
  'appointment-dialer',
  runAppointmentDialer,
);
