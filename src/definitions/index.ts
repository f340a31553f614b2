// Job definitions: YAML files -> validated JobDefinition[] with file:line:col problems, hot reload.
export type {
  CatchUpPolicy,
  JobDefinition,
  OverlapPolicy,
  RetentionPolicy,
  RetryPolicy,
} from './types.js';
export { DURATION_HINT, DurationError, formatDuration, parseDuration } from './duration.js';
export {
  DEFAULT_CATCH_UP_LIMIT,
  DEFAULT_QUEUE,
  DEFAULT_RETENTION,
  DEFAULT_RETRIES,
  DEFAULT_TIMEZONE,
  JOB_KEYS,
  NAME_PATTERN,
  NAME_RULE,
  isValidTimeZone,
  validateJob,
} from './schema.js';
export { parseDefinitionsFile, type FileResult, type NameLocation } from './parse.js';
export {
  displayPath,
  isDefinitionFileName,
  listDefinitionFiles,
  loadDefinitions,
  resolveEffective,
  type LoadResult,
} from './load.js';
export { canonicalJson, definitionsHash } from './hash.js';
export { checkJson, jsonProblemMessage, type JsonProblem } from './json.js';
export * as limits from './limits.js';
export {
  openDefinitions,
  type DefinitionsSource,
  type DefinitionsSourceOptions,
} from './source.js';
export {
  watchDefinitions,
  type DefinitionsSnapshot,
  type DefinitionsWatcher,
  type ReloadEvent,
  type WatchDefinitionsOptions,
} from './watch.js';
