import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodError } from 'zod';
import { AuthError, BatonError } from '../errors.js';
import { capText } from '../text.js';

/** The body of every error answer: `{ error: { code, message } }`. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** An error with an HTTP status and a stable code, answered as {@link ErrorBody}. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function badRequest(message: string): HttpError {
  return new HttpError(400, 'BAD_REQUEST', message);
}

/** One line for every zod issue: `body.reason: expected string, received number`. */
export function zodMessage(where: string, error: ZodError): string {
  const text = error.issues
    .slice(0, 5)
    .map((i) => {
      const path = [where, ...i.path.slice(0, 5).map((seg) => capText(String(seg), 40))].join('.');
      return `${path}: ${i.message}`;
    })
    .join('; ');
  return capText(text, 1000);
}

/** Headers on every answer of the API server (the dashboard adds its own security headers). */
export const COMMON_HEADERS = { 'X-Content-Type-Options': 'nosniff' } as const;

export function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  const body: ErrorBody = { error: { code, message: capText(message, 1000) } };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Fastify's own client errors (bad JSON, body too large, wrong content type) by status. */
const CLIENT_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
};

/** The path of a request for a message: no query string, at most 100 characters, printable. */
function pathOf(request: FastifyRequest): string {
  return capText(request.url.split('?')[0] ?? '', 100);
}

/**
 * Fastify's routing errors (the `frameworkErrors` option): a path with bad percent-encoding, a
 * parameter over `maxParamLength`. Answered in the one error shape, without echoing the URL.
 */
export function frameworkErrors(
  err: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  void reply.headers(COMMON_HEADERS);
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendError(
      reply,
      414,
      'URI_TOO_LONG',
      'a path parameter is too long (job names have at most 63 characters)',
    );
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    return sendError(reply, 400, 'BAD_REQUEST', 'the path is not valid percent-encoded UTF-8');
  }
  return sendError(reply, 400, 'BAD_REQUEST', 'bad request');
}

/**
 * Node's HTTP parser errors (the `clientErrorHandler` option): malformed requests, unknown
 * methods, headers over 16 KB, timeouts. Fastify never sees these as requests; the answer is
 * written on the socket in the one error shape, then the connection is closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let message = 'malformed HTTP request';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = 'the request took too long to arrive';
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    message = 'request headers too large (at most 16 KB)';
  } else if (err.code === 'HPE_INVALID_METHOD') {
    message = 'unknown HTTP method';
  }
  const body = JSON.stringify({ error: { code: CLIENT_CODES[status], message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * Every error answers JSON `{ error: { code, message } }`: HttpError as given, baton errors by
 * code (unknown job 404, etcd/Redis unreachable or
 * refusing the replica's credentials 503), fastify's client errors (bad JSON, body
 * too large) by status, anything else 500 `INTERNAL` with the details only in the log.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof HttpError) return sendError(reply, err.statusCode, err.code, err.message);
    if (err instanceof BatonError) {
      // The replica's own credentials were refused by etcd or Redis: not the caller's fault.
      if (err instanceof AuthError) return sendError(reply, 503, err.code, err.message);
      if (err.code === 'UNKNOWN_JOB') return sendError(reply, 404, err.code, err.message);
      if (err.code === 'USAGE') return sendError(reply, 400, 'BAD_REQUEST', err.message);
      if (err.retryable) return sendError(reply, 503, err.code, err.message);
    }
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendError(reply, status, CLIENT_CODES[status] ?? 'BAD_REQUEST', err.message);
    }
    request.log.error({ err, url: request.url, method: request.method }, 'request failed');
    return sendError(reply, 500, 'INTERNAL', 'internal error (see the replica log)');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${pathOf(request)}`),
  );
  // Every answer, errors and the dashboard included, is served with its declared type only.
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.headers(COMMON_HEADERS);
    return payload;
  });
}
