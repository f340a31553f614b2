import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';

/**
 * A stand-in for a telephony provider, for the `appointment-dialer` example: it records the calls
 * it is asked to place, so anyone can check that every customer got exactly one call.
 *
 * - `POST /calls` with a JSON body `{ customer, phone, message?, fireId }` and the headers
 *   `Idempotency-Key` (required) and `X-Fencing-Token` (decimal, optional, recorded with the call):
 *   - `200` `{ duplicate: true, call }` when the key was seen before: the call is not placed again.
 *   - `201` `{ duplicate: false, call }` for a new call.
 *   - `400` for a malformed request.
 * - `GET /calls`: every placed call, oldest first (`?fireId=` filters).
 * - `GET /calls/summary`: counts, and calls per customer.
 * - `GET /health`: `{ ok: true }`.
 *
 * The sink compares idempotency keys only, never tokens across calls: each call belongs to one
 * fire, which exactly one valid leader committed, so a lower token on another fire's call is no
 * sign of a deposed leader (an older leader's committed fire may well run after a newer one's;
 * docs/handlers.md, "What to compare downstream").
 *
 * With `file`, every decision (placed, duplicate) is appended to that JSON-lines file, and a
 * restarted sink reads it back, so deduplication survives a restart.
 */
export interface TelephonySinkOptions {
  /** 0 picks a free port. @defaultValue 4010 */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** JSON-lines journal of every decision; read back on start. */
  file?: string;
  /** Logs `call received` (info) per request. */
  logger?: Logger;
}

/** One call placed by the sink. */
export interface PlacedCall {
  /** `call-<n>`, in order of arrival. */
  id: string;
  customer: string;
  phone: string;
  message: string | null;
  fireId: string;
  job: string;
  idempotencyKey: string;
  /** Decimal string, or null when the request carried none. */
  fencingToken: string | null;
  /** ISO time the sink received it. */
  at: string;
}

/** One line of the journal file. */
export type SinkRecord =
  | ({ outcome: 'placed' } & PlacedCall)
  | {
      outcome: 'duplicate';
      at: string;
      customer: string;
      fireId: string;
      job: string;
      idempotencyKey: string;
      fencingToken: string | null;
    };

/** What `GET /calls/summary` returns. */
export interface SinkSummary {
  /** Calls placed. */
  calls: number;
  /** Requests answered as duplicates (not placed again). */
  duplicates: number;
  /** Calls placed per customer. */
  perCustomer: Record<string, number>;
  /** Calls placed per fencing token (`none` for calls without one). */
  perToken: Record<string, number>;
}

/** Events of {@link TelephonySink.events}: `record` with every {@link SinkRecord}. */
export interface TelephonySinkEvents {
  record: [SinkRecord];
}

export interface TelephonySink {
  /** `http://<host>:<port>` */
  readonly url: string;
  readonly port: number;
  /** Emits `record` after each decision (after the journal line is written, before the reply). */
  readonly events: EventEmitter<TelephonySinkEvents>;
  /** Placed calls, oldest first. */
  calls(): PlacedCall[];
  summary(): SinkSummary;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
const DECIMAL = /^\d{1,40}$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
  }
}

/** The job of a fire id `<job>@<epochMs>` or `<job>@manual-<id>`. */
export function jobOfFireId(fireId: string): string {
  const at = fireId.lastIndexOf('@');
  return at > 0 ? fireId.slice(0, at) : fireId;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, { error: 'body-too-large' }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function nonEmptyString(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') {
    throw new HttpError(400, {
      error: 'bad-request',
      message: `${field} must be a non-empty string`,
    });
  }
  return v;
}

/** Starts the sink; resolves once it listens. */
export async function startTelephonySink(
  options: TelephonySinkOptions = {},
): Promise<TelephonySink> {
  const host = options.host ?? '127.0.0.1';
  const file = options.file === undefined ? undefined : path.resolve(options.file);
  const logger = options.logger;
  const events = new EventEmitter<TelephonySinkEvents>();

  const placed: PlacedCall[] = [];
  const byKey = new Map<string, PlacedCall>();
  let duplicates = 0;

  const apply = (r: SinkRecord): void => {
    if (r.outcome === 'placed') {
      const call: PlacedCall = {
        id: r.id,
        customer: r.customer,
        phone: r.phone,
        message: r.message,
        fireId: r.fireId,
        job: r.job,
        idempotencyKey: r.idempotencyKey,
        fencingToken: r.fencingToken,
        at: r.at,
      };
      placed.push(call);
      byKey.set(call.idempotencyKey, call);
    } else if (r.outcome === 'duplicate') duplicates++;
    // Journals of earlier versions may hold 'stale' lines: they placed nothing.
  };

  if (file !== undefined) {
    mkdirSync(path.dirname(file), { recursive: true });
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          apply(JSON.parse(line) as SinkRecord);
        } catch {
          // a torn last line after a crash: ignored
        }
      }
    }
  }

  const record = (r: SinkRecord): void => {
    // Written before the reply: a call confirmed to the client is on disk.
    if (file !== undefined) appendFileSync(file, `${JSON.stringify(r)}\n`);
    apply(r);
    events.emit('record', r);
  };

  const postCall = async (req: http.IncomingMessage): Promise<[number, unknown]> => {
    const key = header(req, 'idempotency-key');
    if (key === undefined || key === '') {
      throw new HttpError(400, {
        error: 'bad-request',
        message: 'Idempotency-Key header required',
      });
    }
    const tokenText = header(req, 'x-fencing-token');
    if (tokenText !== undefined && !DECIMAL.test(tokenText)) {
      throw new HttpError(400, {
        error: 'bad-request',
        message: 'X-Fencing-Token must be a decimal integer',
      });
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(await readBody(req));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error();
      body = parsed as Record<string, unknown>;
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, { error: 'bad-request', message: 'body must be a JSON object' });
    }
    const customer = nonEmptyString(body, 'customer');
    const phone = nonEmptyString(body, 'phone');
    const fireId = nonEmptyString(body, 'fireId');
    const message = typeof body.message === 'string' ? body.message : null;
    const job = jobOfFireId(fireId);
    const fencingToken = tokenText ?? null;
    const at = new Date().toISOString();

    const earlier = byKey.get(key);
    if (earlier !== undefined) {
      record({
        outcome: 'duplicate',
        at,
        customer,
        fireId,
        job,
        idempotencyKey: key,
        fencingToken,
      });
      logger?.info({ customer, fireId, token: fencingToken, duplicate: true }, 'call received');
      return [200, { duplicate: true, call: earlier }];
    }

    const call: PlacedCall = {
      id: `call-${placed.length + 1}`,
      customer,
      phone,
      message,
      fireId,
      job,
      idempotencyKey: key,
      fencingToken,
      at,
    };
    record({ outcome: 'placed', ...call });
    logger?.info({ customer, fireId, token: fencingToken, duplicate: false }, 'call received');
    return [201, { duplicate: false, call }];
  };

  const summary = (): SinkSummary => {
    const perCustomer: Record<string, number> = {};
    for (const c of placed) perCustomer[c.customer] = (perCustomer[c.customer] ?? 0) + 1;
    const perToken: Record<string, number> = {};
    for (const c of placed) {
      const t = c.fencingToken ?? 'none';
      perToken[t] = (perToken[t] ?? 0) + 1;
    }
    return { calls: placed.length, duplicates, perCustomer, perToken };
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sink');
    const route = `${req.method ?? 'GET'} ${url.pathname.replace(/\/+$/, '') || '/'}`;
    const handle = async (): Promise<[number, unknown]> => {
      switch (route) {
        case 'POST /calls':
          return postCall(req);
        case 'GET /calls': {
          const fireId = url.searchParams.get('fireId');
          return [200, fireId === null ? placed : placed.filter((c) => c.fireId === fireId)];
        }
        case 'GET /calls/summary':
          return [200, summary()];
        case 'GET /health':
          return [200, { ok: true }];
        default:
          throw new HttpError(404, { error: 'not-found', message: `no route ${route}` });
      }
    };
    handle().then(
      ([status, body]) => send(res, status, body),
      (err: unknown) => {
        if (err instanceof HttpError) send(res, err.status, err.body);
        else {
          logger?.error({ err }, 'telephony sink request failed');
          send(res, 500, { error: 'internal', message: (err as Error).message });
        }
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 4010, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    port,
    events,
    calls: () => [...placed],
    summary,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
