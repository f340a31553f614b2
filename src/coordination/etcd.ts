import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import {
  ConsecutiveBreaker,
  type IBackoff,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  noop,
  retry,
} from 'cockatiel';
import type { ResolvedConfig } from '../config/index.js';

/** Deadline for every unary etcd call: a partitioned or quorum-less etcd must not hang a replica. */
export const ETCD_CALL_TIMEOUT_MS = 3000;

/**
 * Creates the etcd client for baton with TLS/auth from the config, a deadline on every unary call,
 * and fault handling tuned for fail-over: a dead endpoint is skipped for a second after 3
 * failures (etcd3's default keeps it out 5 s), and a call is retried on another endpoint.
 */
export function createEtcd(config: Pick<ResolvedConfig, 'etcdEndpoints' | 'etcdSecurity'>): Etcd3 {
  const s = config.etcdSecurity;
  const options: IOptions = {
    hosts: config.etcdEndpoints,
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    defaultCallOptions: (ctx) =>
      ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS },
    faultHandling: {
      // With one endpoint a breaker only turns one failed call into a second of refusals.
      host: () =>
        config.etcdEndpoints.length === 1
          ? noop
          : circuitBreaker(handleWhen(isRecoverableError), {
              halfOpenAfter: 1000,
              breaker: new ConsecutiveBreaker(3),
            }),
      // Retried on another endpoint with a short backoff, so a call rides through an etcd
      // leader election (immediate retries all land inside it) yet fails within seconds.
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: Math.max(3, config.etcdEndpoints.length + 1),
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
      // etcd3 calls `.next()` on this: it wants the backoff factory although its type says
      // IBackoff. The default waits up to 30 s before re-opening a watch; 2 s keeps fail-over fast.
      watchBackoff: new ExponentialBackoff({
        initialDelay: 100,
        maxDelay: 2000,
      }) as unknown as IBackoff<unknown>,
    },
  };
  if (s.ca) {
    options.credentials = {
      rootCertificate: s.ca,
      ...(s.key ? { privateKey: s.key } : {}),
      ...(s.cert ? { certChain: s.cert } : {}),
    };
  }
  if (s.username && s.password) options.auth = { username: s.username, password: s.password };
  return new Etcd3(options);
}
