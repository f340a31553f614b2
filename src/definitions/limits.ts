// Bounds on what a definitions folder (and a payload sent over HTTP) may hold, so that hostile or
// runaway input costs bounded time and memory and gets one clear message. Documented in
// docs/definitions.md ("Limits") and docs/api.md.

/** A definitions file larger than this is refused unread (10,000 short jobs take ~650 KB). */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Most jobs one file may list. */
export const MAX_JOBS_PER_FILE = 10_000;
/** Most jobs a folder may hold; files past it are refused as a whole. */
export const MAX_JOBS_PER_FOLDER = 100_000;
/** Job and queue names: at most this many characters (also in NAME_PATTERN). */
export const MAX_NAME_LENGTH = 63;
/** Lists and mappings inside each other in a YAML file, the job's own levels included. */
export const MAX_YAML_DEPTH = 64;
/** A payload (definition or HTTP trigger) as JSON: at most this many bytes. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** A payload: lists and mappings inside each other, at most this deep (`{a: 1}` is 1). */
export const MAX_PAYLOAD_DEPTH = 32;
/** Other locations listed in a duplicate-name message before "and N more". */
export const MAX_LISTED_LOCATIONS = 3;
/** A problem message is cut at this many characters. */
export const MAX_MESSAGE_LENGTH = 1000;
