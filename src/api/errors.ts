import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { ZodError } from 'zod';
import { AuthError, BatonError } from '../errors.js';

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
  return error.issues
    .map((i) => {
      const path = [where, ...i.path.map(String)].join('.');
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

export function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  const body: ErrorBody = { error: { code, message } };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Fastify's own client errors (bad JSON, body too large, wrong content type) by status. */
const CLIENT_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

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
    request.log.error(
      { err: { message: err.message, stack: err.stack }, url: request.url, method: request.method },
      'request failed',
    );
    return sendError(reply, 500, 'INTERNAL', 'internal error (see the replica log)');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
}
