import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentDialer,
  type AppointmentDialerPayload,
  type AppointmentDialerResult,
} from '../../jobs/handlers/appointment-dialer.js';
import { handlers } from '../../jobs/handlers/index.js';
import { silentLogger } from '../../src/log.js';
import {
  startTelephonySink,
  type SinkRecord,
  type TelephonySink,
} from '../../jobs/telephony/sink.js';
import type { RunContext } from '../../src/worker/handler.js';

/** 09:00 in New York on Monday 2026-03-09, the day after the switch to EDT: 13:00Z. */
const NINE_AM = new Date('2026-03-09T13:00:00Z');

const APPOINTMENTS = [
  { customer: 'c-1', name: 'Ada', phone: '+1-555-0001', date: '2026-03-09', time: '10:00' },
  { customer: 'c-2', name: 'Grace', phone: '+1-555-0002', date: '2026-03-09', time: '11:30' },
  // Two appointments the same day: still one call.
  { customer: 'c-3', name: 'Alan', phone: '+1-555-0003', date: '2026-03-09', time: '14:00' },
  { customer: 'c-3', name: 'Alan', phone: '+1-555-0003', date: '2026-03-09', time: '16:00' },
  { customer: 'c-4', name: 'Edsger', phone: '+1-555-0004', date: '2026-03-10', time: '09:30' },
  { customer: 'c-5', name: 'Barbara', phone: '+1-555-0005', date: '*', time: '12:00' },
];
const TODAY = ['c-1', 'c-2', 'c-3', 'c-5'];

function context(
  payload: AppointmentDialerPayload,
  overrides: Partial<RunContext<AppointmentDialerPayload>> = {},
): RunContext<AppointmentDialerPayload> {
  const scheduledAt = overrides.scheduledAt ?? NINE_AM;
  return {
    job: 'appointment-dialer',
    scheduledAt,
    fireId: `appointment-dialer@${scheduledAt.getTime()}`,
    fencingToken: '7',
    attempt: 1,
    payload,
    manual: false,
    logger: silentLogger(),
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('appointment-dialer handler with the telephony sink', () => {
  let dir: string;
  let sink: TelephonySink;
  let payload: AppointmentDialerPayload;
  let journal: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-dialer-'));
    const appointmentsFile = path.join(dir, 'appointments.json');
    await writeFile(appointmentsFile, JSON.stringify(APPOINTMENTS));
    journal = path.join(dir, 'calls.jsonl');
    sink = await startTelephonySink({ port: 0, file: journal });
    payload = { telephonyUrl: sink.url, appointmentsFile };
  });

  afterAll(async () => {
    await sink?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is exported in the handlers list under its name', () => {
    expect(handlers.map((h) => h.name).sort()).toEqual([
      'appointment-dialer',
      'etcd-defrag',
      'etcd-snapshot',
      'heartbeat',
    ]);
    expect(handlers).toContain(appointmentDialer);
  });

  it('a run killed mid-way and retried, then run again: one call per customer', async () => {
    // Attempt 1 "dies" right after the first call reached the telephony provider.
    const dying = new AbortController();
    const firstCall = once(sink.events, 'record');
    sink.events.once('record', () => dying.abort(new Error('worker killed')));
    await expect(
      appointmentDialer.run(context(payload, { signal: dying.signal })),
    ).rejects.toThrow();
    const [first] = (await firstCall) as [SinkRecord];
    expect(first.outcome).toBe('placed');
    expect(sink.summary().calls).toBe(1);

    // BullMQ retries the same fire (same fire id, same token) on another worker.
    const retry = (await appointmentDialer.run(
      context(payload, { attempt: 2 }),
    )) as AppointmentDialerResult;
    expect(retry).toEqual({ date: '2026-03-09', called: 4, duplicates: 1 });

    // And the whole fire once more (at-least-once execution): nobody is called again.
    const again = (await appointmentDialer.run(
      context(payload, { attempt: 2 }),
    )) as AppointmentDialerResult;
    expect(again).toEqual({ date: '2026-03-09', called: 4, duplicates: 4 });

    const summary = sink.summary();
    expect(summary.calls).toBe(4);
    expect(summary.perCustomer).toEqual(Object.fromEntries(TODAY.map((c) => [c, 1])));
    expect(summary.duplicates).toBe(5);
    const calls = sink.calls();
    expect(calls.map((c) => c.idempotencyKey).sort()).toEqual(
      TODAY.map((c) => `appointment-dialer@${NINE_AM.getTime()}:${c}`).sort(),
    );
    expect(calls.every((c) => c.fencingToken === '7')).toBe(true);
    expect(calls.find((c) => c.customer === 'c-3')?.message).toContain('14:00 and 16:00');
  });

  it("an older leader's committed fire that runs after a newer leader's still places its calls; a repeat of it places none", async () => {
    // The next day's fire, decided by a newer leader (token 8), runs first.
    const nextDay = new Date('2026-03-10T13:00:00Z');
    const newer = (await appointmentDialer.run(
      context(payload, { scheduledAt: nextDay, fencingToken: '8' }),
    )) as AppointmentDialerResult;
    expect(newer).toEqual({ date: '2026-03-10', called: 2, duplicates: 0 });
    // An older leader's fire (token 6, another day) committed before the fail-over, delivered
    // late: it is valid, so its customers are called. Tokens of different fires are not compared.
    const before = sink.summary();
    const older = (await appointmentDialer.run(
      context(payload, { scheduledAt: new Date('2026-03-11T13:00:00Z'), fencingToken: '6' }),
    )) as AppointmentDialerResult;
    expect(older.called).toBeGreaterThan(0);
    expect(older.duplicates).toBe(0);
    expect(sink.summary().calls).toBe(before.calls + older.called);
    // The same fire again, whatever its token: every call is a duplicate, nobody is called twice.
    const repeat = (await appointmentDialer.run(
      context(payload, { scheduledAt: new Date('2026-03-11T13:00:00Z'), fencingToken: '9' }),
    )) as AppointmentDialerResult;
    expect(repeat).toEqual({ ...older, called: older.called, duplicates: older.called });
    expect(sink.summary().calls).toBe(before.calls + older.called);
    expect(sink.summary().perToken['6']).toBe(older.called);
  });

  it('the journal survives a restart of the sink: keys and tokens are still known', async () => {
    const lines = (await readFile(journal, 'utf8')).trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as SinkRecord);
    const placedBefore = records.filter((r) => r.outcome === 'placed').length;
    expect(placedBefore).toBe(sink.summary().calls);

    const before = sink.summary();
    await sink.close();
    sink = await startTelephonySink({ port: 0, file: journal });
    payload = { ...payload, telephonyUrl: sink.url };
    expect(sink.summary()).toEqual(before);
    // A retry of the next day's fire: its calls are known, nobody is called twice.
    const nextDay = new Date('2026-03-10T13:00:00Z');
    const again = (await appointmentDialer.run(
      context(payload, { scheduledAt: nextDay, fencingToken: '8', attempt: 2 }),
    )) as AppointmentDialerResult;
    expect(again).toEqual({ date: '2026-03-10', called: 2, duplicates: 2 });
    expect(sink.summary().calls).toBe(placedBefore);
  });

  it('selects the day by the local date in the job zone, not UTC', async () => {
    // 02:00Z on the 10th is still the evening of the 9th in New York.
    const late = new Date('2026-03-10T02:00:00Z');
    const result = (await appointmentDialer.run(
      context(payload, { scheduledAt: late, fencingToken: '8' }),
    )) as AppointmentDialerResult;
    expect(result.date).toBe('2026-03-09');
    const utc = (await appointmentDialer.run(
      context({ ...payload, timezone: 'UTC' }, { scheduledAt: late, fencingToken: '8' }),
    )) as AppointmentDialerResult;
    expect(utc.date).toBe('2026-03-10');
    // The second is the same fire id, so its customers that the first already called are
    // duplicates (c-5, every day); c-4 (the 10th only) is new.
    expect(utc).toEqual({ date: '2026-03-10', called: 2, duplicates: 1 });
  });

  it('an invalid payload fails at once without retry', async () => {
    await expect(
      appointmentDialer.run(
        context({ telephonyUrl: 'not a url', appointmentsFile: '' } as AppointmentDialerPayload),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_PAYLOAD', retryable: false });
  });

  it('the sink answers malformed requests with 400 and a repeated key with 200 duplicate', async () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${sink.url}/calls`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    expect((await post({}, { customer: 'x', phone: '1', fireId: 'j@1' })).status).toBe(400);
    expect(
      (await post({ 'idempotency-key': 'k', 'x-fencing-token': 'abc' }, { customer: 'x' })).status,
    ).toBe(400);
    const ok = await post(
      { 'idempotency-key': 'manual-key', 'x-fencing-token': '1' },
      { customer: 'x', phone: '1', fireId: 'other-job@1' },
    );
    expect(ok.status).toBe(201);
    const dup = await post(
      { 'idempotency-key': 'manual-key', 'x-fencing-token': '1' },
      { customer: 'x', phone: '1', fireId: 'other-job@1' },
    );
    expect(dup.status).toBe(200);
    expect(((await dup.json()) as { duplicate: boolean }).duplicate).toBe(true);
    const list = (await (await fetch(`${sink.url}/calls?fireId=other-job@1`)).json()) as unknown[];
    expect(list).toHaveLength(1);
  });
});
