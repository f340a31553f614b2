import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { BearerAuth, operatorOf } from '../../../src/api/auth.js';
import { HttpError } from '../../../src/api/errors.js';

function refusal(
  auth: BearerAuth,
  header: string | undefined,
): { status: number; code: string } | null {
  try {
    auth.check(header);
    return null;
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { status: err.statusCode, code: err.code };
  }
}

describe('BearerAuth', () => {
  const auth = new BearerAuth('s3cret-token');

  it('accepts exactly the configured token', () => {
    expect(refusal(auth, 'Bearer s3cret-token')).toBeNull();
    expect(refusal(auth, 'bearer s3cret-token')).toBeNull();
  });

  it('401 when missing or malformed, 403 when wrong (any length)', () => {
    expect(refusal(auth, undefined)).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(refusal(auth, '')).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(refusal(auth, 'Basic czNjcmV0')).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(refusal(auth, 'Bearer')).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(refusal(auth, 'Bearer a b')).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    for (const wrong of ['s3cret-tokeN', 's3cret', 's3cret-token-and-more', 'x'])
      expect(refusal(auth, `Bearer ${wrong}`)).toEqual({ status: 403, code: 'FORBIDDEN' });
  });

  it('without a configured token every mutation is refused with MUTATIONS_DISABLED', () => {
    const off = new BearerAuth(null);
    expect(off.enabled).toBe(false);
    expect(refusal(off, 'Bearer anything')).toEqual({ status: 403, code: 'MUTATIONS_DISABLED' });
    expect(refusal(off, undefined)).toEqual({ status: 403, code: 'MUTATIONS_DISABLED' });
  });
});

describe('operatorOf', () => {
  const req = (headers: Record<string, string | string[]>, ip = '10.1.2.3') =>
    ({ headers, ip }) as unknown as FastifyRequest;

  it('takes X-Baton-Operator, sanitised and bounded, else api:<address>', () => {
    expect(operatorOf(req({ 'x-baton-operator': 'alice@ops' }))).toBe('alice@ops');
    expect(operatorOf(req({ 'x-baton-operator': 'bob"; <b>\u0007x' }))).toBe('bob bx');
    expect(operatorOf(req({ 'x-baton-operator': 'y'.repeat(300) }))).toHaveLength(100);
    expect(operatorOf(req({ 'x-baton-operator': '<>' }))).toBe('api:10.1.2.3');
    expect(operatorOf(req({}))).toBe('api:10.1.2.3');
  });
});
