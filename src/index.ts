// The public API of baton, as an explicit list.
export { defineHandler, type Handler, type RunContext } from './worker/handler.js';
export {
  HandlerRegistry,
  RunAbortedError,
  Worker,
  readHistory,
  startWorker,
  type AbortCause,
  type HistoryEntry,
  type JobHistory,
  type ReadHistoryOptions,
  type RunEvent,
  type RunRecord,
  type RunStatus,
  type SkipEntry,
  type WorkerOptions,
} from './worker/index.js';
export { redisKeys, type RedisKeys } from './redis/keys.js';
export {
  resolveConfig,
  type BatonOptions,
  type EtcdSecurity,
  type ResolvedConfig,
} from './config/index.js';
// For handlers: the duration syntax of the definitions (`30s`, `7d`), an etcd client with baton's
// deadlines and fault handling, and the type of `ctx.logger`.
export { DurationError, formatDuration, parseDuration } from './definitions/duration.js';
export { createEtcd as createEtcdClient } from './coordination/etcd.js';
export type { Logger } from './log.js';
export type {
  JobDefinition,
  CatchUpPolicy,
  OverlapPolicy,
  RetryPolicy,
  RetentionPolicy,
} from './definitions/types.js';
export type { RunData } from './fire.js';
export {
  BatonError,
  InvalidDefinitionError,
  NotLeaderError,
  StaleTokenError,
  UnavailableError,
  UnknownJobError,
  UsageError,
} from './errors.js';
