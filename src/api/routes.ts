import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { auditJobs, auditRange } from '../control/audit.js';
import { redisCall, type ControlContext } from '../control/context.js';
import {
  cancelBackfill,
  getBackfill,
  listBackfills,
  planBackfill,
  requestBackfill,
} from '../control/backfill.js';
import {
  BACKFILL_ID_PATTERN,
  BACKFILL_ID_RULE,
  BACKFILL_OVERLAPS,
  DEFAULT_BACKFILL_LIMITS,
} from '../coordination/backfills.js';
import { pauseJob, resumeJob, triggerJob } from '../control/commands.js';
import { getJob, jobHistory, listJobsPage } from '../control/jobs.js';
import { readLeaderTerms } from '../history/leader-terms.js';
import { getStatus } from '../control/status.js';
import {
  NAME_PATTERN,
  NAME_RULE,
  checkJson,
  jsonProblemMessage,
  parseDuration,
} from '../definitions/index.js';
import { UnknownJobError } from '../errors.js';
import { manualFireId } from '../fire.js';
import type { Replica } from '../scheduler/replica.js';
import { redisKeysOf } from '../redis/keys.js';
import { operatorOf, type BearerAuth } from './auth.js';
import { badRequest, HttpError, zodMessage } from './errors.js';
import type { LeadersResponse, StatusResponse } from './types.js';

export interface RoutesOptions {
  replica: Replica;
  ctx: ControlContext;
  redis: Redis;
  auth: BearerAuth;
}

// Request shapes, validated with zod (the schema library of the job definitions).
const JobParams = z.object({
  name: z.string().regex(NAME_PATTERN, `job name: ${NAME_RULE}`),
});
const HistoryQuery = z.object({
  limit: z.coerce
    .number({ error: 'limit must be a whole number from 1 to 1000' })
    .int('limit must be a whole number from 1 to 1000')
    .min(1, 'limit must be at least 1')
    .max(1000, 'limit must be at most 1000')
    .default(50),
});
const JobsQuery = z.strictObject({
  q: z.string().max(200, 'q: at most 200 characters').optional(),
  after: z.string().max(200, 'after: at most 200 characters').optional(),
  limit: z.coerce
    .number({ error: 'limit must be a whole number from 1 to 1000' })
    .int('limit must be a whole number from 1 to 1000')
    .min(1, 'limit must be at least 1')
    .max(1000, 'limit must be at most 1000')
    .optional(),
});
const AuditQuery = z.strictObject({
  job: z.string().regex(NAME_PATTERN, `job name: ${NAME_RULE}`).optional(),
  from: z.string().max(64, 'from: at most 64 characters').optional(),
  to: z.string().max(64, 'to: at most 64 characters').optional(),
  grace: z.string().max(32, 'grace: at most 32 characters').optional(),
  all: z.enum(['true', 'false']).optional(),
});
const LeadersQuery = z.strictObject({
  since: z.string().max(64, 'since: at most 64 characters').optional(),
});
/** The leader terms' default window: the last 24 hours. */
const LEADERS_DEFAULT_MS = 24 * 3600 * 1000;
/** Jobs one `GET /api/v1/audit` may cover (each costs two Redis round trips). */
const AUDIT_MAX_JOBS = 1000;
const PauseBody = z.strictObject({
  reason: z.string('reason must be a string').max(500, 'reason: at most 500 characters').nullish(),
});
const TriggerBody = z.strictObject({
  /** Any JSON value within the payload limits; replaces the definition's payload for this run. */
  payload: z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = checkJson(value);
      if (problem !== null)
        ctx.addIssue({ code: 'custom', message: jsonProblemMessage('payload', problem) });
    })
    .optional(),
});

const BackfillBody = z.strictObject({
  from: z.string('from must be an ISO 8601 time').max(64, 'from: at most 64 characters'),
  to: z.string('to must be an ISO 8601 time').max(64, 'to: at most 64 characters'),
  overlap: z
    .enum(BACKFILL_OVERLAPS, `overlap must be one of ${BACKFILL_OVERLAPS.join(', ')}`)
    .optional(),
  rate: z
    .number({ error: `rate must be runs per second from 1 to ${DEFAULT_BACKFILL_LIMITS.maxRate}` })
    .int(`rate must be a whole number of runs per second`)
    .min(1, 'rate must be at least 1')
    .max(DEFAULT_BACKFILL_LIMITS.maxRate, `rate must be at most ${DEFAULT_BACKFILL_LIMITS.maxRate}`)
    .optional(),
  dryRun: z.boolean('dryRun must be true or false').optional(),
});
const BackfillParams = z.object({
  id: z.string().regex(BACKFILL_ID_PATTERN, `backfill id: ${BACKFILL_ID_RULE}`),
});
/** `POST /api/v1/backfills/:id/cancel` takes no body (an empty object at most). */
const CancelBody = z.strictObject({});

/** Parses `value` or throws a 400 `BAD_REQUEST` naming every problem. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(zodMessage(where, result.error));
  return result.data;
}

function params(request: FastifyRequest): { name: string } {
  return validate(JobParams, request.params, 'params');
}

/** An absent body counts as `{}`. */
function body<T>(schema: z.ZodType<T>, request: FastifyRequest): T {
  return validate(schema, request.body ?? {}, 'body');
}

/** The read routes (`/api/v1/status`, `/api/v1/jobs...`) and the guarded mutations. */
export function registerRoutes(app: FastifyInstance, options: RoutesOptions): void {
  const { replica, ctx, redis, auth } = options;

  app.get('/api/v1/status', async (): Promise<StatusResponse> => {
    const status = await getStatus(ctx);
    const now = Date.now();
    return {
      namespace: status.namespace,
      leader: status.leader,
      token: status.token,
      members: status.members.map((m) => ({
        ...m,
        heartbeatAgeMs: Math.max(0, now - Date.parse(m.updatedAt)),
      })),
      self: { id: replica.id, state: replica.state, ready: replica.ready },
    };
  });

  app.get('/api/v1/cluster/leaders', async (request): Promise<LeadersResponse> => {
    const { since } = validate(LeadersQuery, request.query, 'query');
    const from = since === undefined ? Date.now() - LEADERS_DEFAULT_MS : Date.parse(since);
    if (!Number.isFinite(from)) {
      throw badRequest(
        `since must be an ISO 8601 time such as 2026-01-31T09:00:00Z, got "${since}"`,
      );
    }
    const terms = await redisCall(ctx.config, 'read the leader terms', () =>
      readLeaderTerms(redis, redisKeysOf(ctx.config), from),
    );
    return { terms };
  });

  app.get('/api/v1/jobs', async (request) => {
    const query = validate(JobsQuery, request.query, 'query');
    return listJobsPage(ctx, redis, replica.definitions(), query);
  });

  app.get('/api/v1/jobs/:name', async (request) => {
    const { name } = params(request);
    return getJob(ctx, redis, replica.definitions(), name);
  });

  app.get('/api/v1/jobs/:name/history', async (request) => {
    const { name } = params(request);
    const { limit } = validate(HistoryQuery, request.query, 'query');
    if (!replica.definitions().some((d) => d.name === name)) throw new UnknownJobError(name);
    return jobHistory(ctx, redis, name, limit);
  });

  app.get('/api/v1/audit', async (request) => {
    const q = validate(AuditQuery, request.query, 'query');
    const range = auditRange(q.from, q.to);
    let graceMs: number | undefined;
    try {
      graceMs = q.grace === undefined ? undefined : parseDuration(q.grace, 'grace');
    } catch (err) {
      throw badRequest((err as Error).message);
    }
    const all = replica.definitions();
    const defs = q.job === undefined ? all : all.filter((d) => d.name === q.job);
    if (q.job !== undefined && defs.length === 0) throw new UnknownJobError(q.job);
    if (defs.length > AUDIT_MAX_JOBS) {
      throw badRequest(
        `${defs.length} jobs: audit at most ${AUDIT_MAX_JOBS} at once over HTTP (name one with job=, or use baton audit)`,
      );
    }
    return {
      jobs: await auditJobs(ctx, redis, defs, { ...range, all: q.all === 'true', graceMs }),
    };
  });

  app.get('/api/v1/backfills', async () => ({ backfills: await listBackfills(ctx) }));

  app.get('/api/v1/backfills/:id', async (request) => {
    const { id } = validate(BackfillParams, request.params, 'params');
    const record = await getBackfill(ctx, id);
    if (!record) throw new HttpError(404, 'NOT_FOUND', `no backfill ${id}`);
    return record;
  });

  const guarded = { onRequest: auth.hook() };

  app.post('/api/v1/jobs/:name/backfill', guarded, async (request, reply) => {
    const { name } = params(request);
    const { dryRun, ...rest } = body(BackfillBody, request);
    const input = { job: name, ...rest, by: operatorOf(request) };
    if (dryRun) return planBackfill(ctx, redis, replica.definitions(), input);
    const backfill = await requestBackfill(ctx, replica.definitions(), input);
    request.log.info(
      { job: name, by: backfill.by, backfill: backfill.id, from: backfill.from, to: backfill.to },
      'backfill requested over HTTP',
    );
    return reply.code(202).send(backfill);
  });

  app.post('/api/v1/backfills/:id/cancel', guarded, async (request) => {
    const { id } = validate(BackfillParams, request.params, 'params');
    body(CancelBody, request);
    const result = await cancelBackfill(ctx, id, operatorOf(request));
    if (result.outcome === 'unknown') throw new HttpError(404, 'NOT_FOUND', `no backfill ${id}`);
    const r = result.record;
    if (result.outcome === 'finished') {
      const who =
        r.state === 'cancelled' && r.cancel ? ` (by ${r.cancel.by} at ${r.cancel.at})` : '';
      throw new HttpError(
        409,
        'BACKFILL_FINISHED',
        `backfill ${id} of ${r.job} is already ${r.state}${who}: nothing to cancel`,
      );
    }
    request.log.info(
      { job: r.job, by: r.cancel?.by, backfill: id, decided: r.cancel?.decided },
      'backfill cancelled over HTTP',
    );
    return r;
  });

  app.post('/api/v1/jobs/:name/pause', guarded, async (request) => {
    const { name } = params(request);
    const { reason } = body(PauseBody, request);
    const paused = await pauseJob(ctx, name, operatorOf(request), reason ?? null);
    request.log.info({ job: name, by: paused.by, reason: paused.reason }, 'paused over HTTP');
    return { job: name, paused };
  });

  app.post('/api/v1/jobs/:name/resume', guarded, async (request) => {
    const { name } = params(request);
    body(z.strictObject({}), request);
    const lifted = await resumeJob(ctx, name);
    request.log.info(
      { job: name, by: operatorOf(request), resumed: lifted !== null },
      'resumed over HTTP',
    );
    return { job: name, resumed: lifted !== null };
  });

  app.post('/api/v1/jobs/:name/trigger', guarded, async (request, reply) => {
    const { name } = params(request);
    const { payload } = body(TriggerBody, request);
    const trigger = await triggerJob(ctx, name, operatorOf(request), payload);
    request.log.info({ job: name, by: trigger.by, trigger: trigger.id }, 'triggered over HTTP');
    return reply.code(202).send({ job: name, trigger, fireId: manualFireId(name, trigger.id) });
  });
}
