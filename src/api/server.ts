import type { Etcd3 } from 'etcd3';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/index.js';
import { ClusterWatch } from '../control/cluster.js';
import type { ControlContext } from '../control/context.js';
import { EventBus } from '../events/bus.js';
import { keys as makeKeys } from '../coordination/keys.js';
import { registerDashboard } from '../dashboard/serve.js';
import type { Logger } from '../log.js';
import { redisKeysOf } from '../redis/keys.js';
import type { Replica } from '../scheduler/replica.js';
import { BearerAuth } from './auth.js';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './errors.js';
import { Metrics } from './metrics.js';
import { registerRoutes } from './routes.js';
import { registerEvents } from './sse.js';

export interface ApiOptions {
  replica: Replica;
  config: ResolvedConfig;
  /**
   * Redis for reads (history, counters). Owned by the caller. A duplicate of it, owned by the
   * server, subscribes to the events channel.
   */
  redis: Redis;
  /** etcd client for reads, intents and watches. Owned by the caller. */
  etcd: Etcd3;
  logger: Logger;
  port: number;
  host?: string;
  /** SSE heartbeat period. @defaultValue 15_000 */
  sseHeartbeatMs?: number;
}

export interface Api {
  app: FastifyInstance;
  url: string;
  /** Stops the server, its watches and its subscriber connection (not the caller's clients). */
  close(): Promise<void>;
}

/**
 * The fastify instance of the API with its options, body parsing and error handling, and no
 * route: every answer, the framework's own errors included, is `{ error: { code, message } }`
 * on failure and carries `X-Content-Type-Options: nosniff`.
 */
export function createHttpApp(log: Logger): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // No line per request (a scraped /metrics and polling dashboards would drown the log).
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    bodyLimit: 1024 * 1024,
    // Errors raised before a route runs answer in the one error shape too (docs/api.md).
    frameworkErrors,
    clientErrorHandler,
  });

  // An empty JSON body counts as no body (a POST /resume from fetch with a JSON content type);
  // anything else goes through fastify's parser (prototype-poisoning safe).
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // Only JSON bodies are read: any other type is 415 UNSUPPORTED_MEDIA_TYPE (fastify would read
  // text/plain as a string and answer 400).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, text, done) => {
    const body = typeof text === 'string' ? text : text.toString('utf8');
    if (body.trim() === '') return done(null, undefined);
    json(request, body, done);
  });
  installErrorHandling(app);
  return app;
}

/**
 * The HTTP surface of a scheduler replica (docs/api.md): liveness and readiness, Prometheus
 * metrics, the read API, bearer-guarded mutations, the live event stream and the dashboard.
 */
export async function startApi(options: ApiOptions): Promise<Api> {
  const { replica, config, redis, etcd } = options;
  const log = options.logger.child({ component: 'api' });
  const app = createHttpApp(log);

  const ctx: ControlContext = {
    config,
    etcd,
    keys: makeKeys(config.namespace),
    close: () => undefined,
  };
  const subscriber = redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
  subscriber.on('error', () => undefined);
  const bus = new EventBus({ subscriber, keys: redisKeysOf(config), logger: log });
  bus.start();
  const cluster = new ClusterWatch({
    etcd,
    keys: ctx.keys,
    logger: log,
    emit: (event) => bus.emit(event),
  });
  cluster.start();
  const metrics = new Metrics({
    replica,
    redis,
    keys: redisKeysOf(config),
    logger: log,
    now: () => Date.now() + config.clockOffsetMs,
  });
  const auth = new BearerAuth(config.apiToken);
  if (!auth.enabled) {
    log.warn('BATON_API_TOKEN is not set: pause, resume and trigger over HTTP are disabled (403)');
  }

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const body = {
      ready: replica.ready,
      state: replica.state,
      etcd: replica.etcdIsReady,
      redis: replica.redisIsReady,
      // What is wrong with etcd or Redis: `{ service, cause, message, since }`, cause
      // `unavailable`, `auth` (credentials or rights refused) or `invalid_argument`.
      problems: replica.serviceProblems(),
    };
    return reply.code(body.ready ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  app.get('/api/v1/replica', async () => ({
    id: replica.id,
    state: replica.state,
    token: replica.token,
    ready: replica.ready,
    jobs: replica.definitions().length,
  }));
  registerRoutes(app, { replica, ctx, redis, auth });
  registerEvents(app, {
    bus,
    cluster,
    ...(options.sseHeartbeatMs === undefined ? {} : { heartbeatMs: options.sseHeartbeatMs }),
  });
  try {
    registerDashboard(app);
  } catch (err) {
    // The API stays useful without its page (a build that lost the static files).
    log.error({ err }, 'dashboard not served');
  }

  app.addHook('onClose', async () => {
    metrics.close();
    await cluster.close();
    bus.close();
  });

  let url: string;
  try {
    url = await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return { app, url, close: () => app.close() };
}
