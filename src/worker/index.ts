// Worker side: BullMQ workers running registered handlers behind the fencing check, with
// overlap policy, timeout, retries, graceful shutdown and run history.
export { defineHandler, type Handler, type RunContext } from './handler.js';
export { HandlerRegistry, isHandler } from './registry.js';
export { RunAbortedError, type AbortCause } from './errors.js';
export { startWorker, Worker, type RunEvent, type WorkerOptions } from './worker.js';
export { retryDelayMs } from './outcome.js';
export {
  readHistory,
  type HistoryEntry,
  type JobHistory,
  type ReadHistoryOptions,
  type RunRecord,
  type RunStatus,
  type SkipEntry,
} from '../history/records.js';
export { redisKeys, redisKeysOf, type RedisKeys, type RunKeys } from '../redis/keys.js';
export { canonicalToken, compareTokens } from './token.js';
export { handlersDirModule, loadHandlerModules, loadHandlersDir } from './modules.js';
