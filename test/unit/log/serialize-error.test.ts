import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactText } from '../../../src/log.js';

/** A logger writing into an array of parsed lines. */
function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug' }, dest) };
}

describe('the err field of every log line', () => {
  it('keeps the type, message, stack and cause of an Error', () => {
    const { lines, logger } = capture();
    const cause = new TypeError('socket closed');
    logger.error({ err: new Error('publish failed', { cause }) }, 'x');
    const err = lines[0]!.err as Record<string, unknown>;
    expect(err.type).toBe('Error');
    expect(err.message).toContain('publish failed');
    expect(String(err.stack)).toMatch(/\n\s+at /);
    expect(JSON.stringify(err)).toContain('socket closed');
  });

  it('redacts credentials a driver error quotes, in the message and the stack', () => {
    const { lines, logger } = capture();
    logger.warn({ err: new Error('cannot connect to redis://app:hunter2@10.0.0.1:6379') }, 'x');
    logger.warn({ err: 'GET http://h/hook?token=s3cret failed' }, 'y');
    // ioredis hangs the failed command on its reply errors: AUTH <user> <password>.
    const reply = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['baton', 'pw-in-args'] },
    });
    logger.warn({ err: reply }, 'z');
    const text = JSON.stringify(lines);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('pw-in-args');
    expect((lines[1]!.err as Record<string, unknown>).message).toBe(
      'GET http://h/hook?token=redacted failed',
    );
  });
});

describe('redactText', () => {
  it('redacts the fragment of a URL quoted in a message (a token may ride there)', () => {
    expect(redactText('unknown job "http://127.0.0.1:1/#FuzzS3cret"')).toBe(
      'unknown job "http://127.0.0.1:1/#redacted"',
    );
    expect(redactText('see docs.md#section')).toBe('see docs.md#section');
  });
});
