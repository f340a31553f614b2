// The dashboard's constants: how much it shows and how often it asks the API.

export const API = '/api/v1';
export const TOKEN_KEY = 'baton.apiToken';
export const OPERATOR_KEY = 'baton.operator';
/** Events kept in the live feed. */
export const FEED_MAX = 60;
/**
 * Jobs fetched and rendered at once: the first of those matching the filter, which the API
 * applies (baton scales to 100,000 jobs; the page never asks for all of them).
 */
export const JOBS_SHOWN_MAX = 200;
/** Typing in the filter asks the API again after this pause. */
export const FILTER_DEBOUNCE_MS = 250;
/** /api/v1/jobs is fetched at most this often (or 10× its own duration, if longer). */
export const JOBS_REFRESH_MIN_MS = 3_000;
/** Full refresh while the event stream is live (a safety net) and while it is not. */
export const SAFETY_REFRESH_MS = 30_000;
export const OFFLINE_REFRESH_MS = 5_000;
/** A heartbeat older than this is shown as late. */
export const HEARTBEAT_LATE_MS = 10_000;
/** Next fires listed per job card. */
export const NEXT_SHOWN = 3;
/** Recent runs listed when a job's details are opened. */
export const RUNS_SHOWN = 10;
/** History entries (runs and skip ranges) drawn in an open job's timeline and charts. */
export const TIMELINE_ENTRIES = 200;
/** The timeline spans at least this long, up to now. */
export const TIMELINE_MIN_SPAN_MS = 3600_000;
/** An open job's details are fetched again at most this often after run events. */
export const DETAIL_REFRESH_MS = 2_000;
/** A visible card's audit summary (last 24 h) is fetched again after this long. */
export const AUDIT_REFRESH_MS = 60_000;
/** The cluster timeline covers this much of the past. */
export const LEADERS_SPAN_MS = 6 * 3600_000;
/** A backfill started from a job's details is polled this often until it is done or failed. */
export const BACKFILL_POLL_MS = 1_000;
