import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Bearer-token check of mutating calls. The configured token and the presented one are compared
 * as sha256 digests with `crypto.timingSafeEqual` (equal lengths, constant time), so neither the
 * token's length nor a matching prefix shows in the response time.
 */
export class BearerAuth {
  private readonly expected: Buffer | null;

  constructor(token: string | null) {
    this.expected = token ? digest(token) : null;
  }

  get enabled(): boolean {
    return this.expected !== null;
  }

  /** Throws the right {@link HttpError} unless the request carries the configured token. */
  check(authorization: string | undefined): void {
    if (this.expected === null) {
      throw new HttpError(
        403,
        'MUTATIONS_DISABLED',
        'mutations are disabled on this replica: start it with BATON_API_TOKEN set to enable pause, resume and trigger',
      );
    }
    if (authorization === undefined || authorization === '') {
      throw new HttpError(401, 'UNAUTHORIZED', 'missing Authorization: Bearer <token> header');
    }
    const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization);
    if (!match) {
      throw new HttpError(
        401,
        'UNAUTHORIZED',
        'malformed Authorization header: use Bearer <token>',
      );
    }
    if (!timingSafeEqual(digest(match[1]!), this.expected)) {
      throw new HttpError(403, 'FORBIDDEN', 'the bearer token is not valid for this cluster');
    }
  }

  /** A fastify `onRequest` hook: runs before the body is parsed or validated. */
  hook() {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      try {
        this.check(request.headers.authorization);
      } catch (err) {
        if (err instanceof HttpError && err.statusCode === 401)
          void reply.header('WWW-Authenticate', 'Bearer realm="baton"');
        throw err;
      }
    };
  }
}

/**
 * Who did it, for pause and trigger records: the `X-Baton-Operator` header (letters, digits and
 * ` .@_:/+-` kept, at most 100 characters), else `api:<remote address>`.
 */
export function operatorOf(request: FastifyRequest): string {
  const header = request.headers['x-baton-operator'];
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value === 'string') {
    const clean = value
      .replace(/[^A-Za-z0-9 .@_:/+-]/g, '')
      .trim()
      .slice(0, 100);
    if (clean !== '') return clean;
  }
  return `api:${request.ip}`;
}
