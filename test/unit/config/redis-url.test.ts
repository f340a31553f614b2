import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/index.js';
import { isHashTagged, parseRedisUrl } from '../../../src/config/redis-url.js';

describe('parseRedisUrl', () => {
  it('keeps redis:// and rediss:// URLs as one server', () => {
    expect(parseRedisUrl('redis://:pw@h:6379/2')).toEqual({
      kind: 'single',
      url: 'redis://:pw@h:6379/2',
    });
    expect(parseRedisUrl('rediss://h:6380').kind).toBe('single');
  });

  it('reads sentinels, master name, db, credentials and options', () => {
    expect(
      parseRedisUrl(
        'rediss+sentinel://baton:p%40ss@s1:26379,10.0.0.2:26380,[::1]:26381/mymaster/3?sentinelPassword=sp&waitReplicas=2',
      ),
    ).toEqual({
      kind: 'sentinel',
      tls: true,
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      db: 3,
      username: 'baton',
      password: 'p@ss',
      sentinelPassword: 'sp',
      waitReplicas: 2,
    });
    expect(parseRedisUrl('redis+sentinel://s1:26379/m')).toMatchObject({
      tls: false,
      db: 0,
      username: undefined,
      password: undefined,
      waitReplicas: 1,
    });
  });

  it('reads cluster seed nodes', () => {
    expect(parseRedisUrl('redis+cluster://:pw@n1:7000,n2:7001')).toEqual({
      kind: 'cluster',
      tls: false,
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      username: undefined,
      password: 'pw',
    });
  });

  it('refuses what it cannot use, without printing the password', () => {
    for (const [url, message] of [
      ['http://h:6379', /redis\+sentinel:\/\//],
      ['redis+sentinel://s1:26379', /master name/],
      ['redis+sentinel://s1/m', /not host:port/],
      ['redis+sentinel://s1:99999/m', /not host:port/],
      ['redis+sentinel://s1:1/m/x', /master name/],
      ['redis+sentinel://s1:1/m?waitReplicas=many', /waitReplicas/],
      ['redis+cluster://n1:7000/1', /only database 0/],
    ] as const) {
      expect(() => parseRedisUrl(url), url).toThrow(message);
    }
    expect(() => parseRedisUrl('redis+sentinel://u:secret@s1/m')).toThrow(/^(?!.*secret)/s);
  });

  it('a Cluster needs a hash-tagged queue prefix', () => {
    expect(isHashTagged('{baton}')).toBe(true);
    expect(isHashTagged('app:{baton}')).toBe(true);
    expect(isHashTagged('{}')).toBe(false);
    expect(isHashTagged('bull')).toBe(false);
    expect(() => resolveConfig({ redis: 'redis+cluster://n1:7000' }, {})).toThrow(/hash tag/);
    expect(
      resolveConfig({ redis: 'redis+cluster://n1:7000', queuePrefix: '{baton}' }, {}).queuePrefix,
    ).toBe('{baton}');
  });
});

describe('BATON_ADVERTISE_URL', () => {
  it('is an http(s) URL, kept without its trailing slash', () => {
    expect(resolveConfig({}, { BATON_ADVERTISE_URL: 'http://10.0.0.7:8080/' }).advertiseUrl).toBe(
      'http://10.0.0.7:8080',
    );
    expect(resolveConfig({}, {}).advertiseUrl).toBeNull();
    expect(() => resolveConfig({}, { BATON_ADVERTISE_URL: 'scheduler-1:8080' })).toThrow(
      /BATON_ADVERTISE_URL/,
    );
  });
});
