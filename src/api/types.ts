/**
 * The shapes of the HTTP API's answers, in one place for its clients: the dashboard's modules
 * import them in JSDoc (`@import`) and `tsconfig.dashboard.json` checks them against these.
 */
import type { JobAudit } from '../control/audit.js';
import type { BackfillOverlap, BackfillRecord } from '../coordination/backfills.js';
import type { JobDetail, JobsPage } from '../control/jobs.js';
import type { LeaderTerm } from '../history/leader-terms.js';
import type { MemberInfo, ReplicaState } from '../coordination/members.js';

export type { BatonEvent, BatonEventType } from '../events/bus.js';
export type { InstantOutcome, JobAudit } from '../control/audit.js';
export type { JobDetail, JobSummary, JobsPage } from '../control/jobs.js';
export type { LeaderTerm } from '../history/leader-terms.js';
export type { MemberInfo, ReplicaState } from '../coordination/members.js';
export type { PauseRecord } from '../coordination/intents.js';
export type { BackfillPlan, PlannedInstant } from '../control/backfill.js';
export type { BackfillOverlap, BackfillRecord, BackfillState } from '../coordination/backfills.js';
export type {
  HistoryEntry,
  JobHistory,
  RunRecord,
  RunStatus,
  SkipEntry,
} from '../history/records.js';

/** `GET /api/v1/status`. */
export interface StatusResponse {
  namespace: string;
  leader: string | null;
  token: string | null;
  /** Every live member, with the age of its heartbeat as this replica sees it. */
  members: (MemberInfo & { heartbeatAgeMs: number })[];
  /** The replica that answered. */
  self: { id: string; state: ReplicaState; ready: boolean };
}

/** `GET /api/v1/jobs`. */
export type JobsResponse = JobsPage;

/**
 * One upcoming instant of a job, with why it will be skipped when it will (`excluded: holidays`,
 * `outside active window`). Job details carry a list of them where the schedule knows exclusions.
 */
export interface UpcomingFire {
  at: string;
  skipped?: string;
}

/** `GET /api/v1/jobs/:name`. */
export type JobDetailResponse = JobDetail & { upcoming?: UpcomingFire[] };

/** `GET /api/v1/audit`. */
export interface AuditResponse {
  jobs: JobAudit[];
}

/** `GET /api/v1/cluster/leaders`. */
export interface LeadersResponse {
  terms: LeaderTerm[];
}

/**
 * The body of `POST /api/v1/jobs/:name/backfill`: answered with a `BackfillPlan` (200) when
 * `dryRun` is true, else with the new `BackfillRecord` (202).
 */
export interface BackfillRequest {
  /** ISO 8601 with a zone; both ends included. */
  from: string;
  to: string;
  /** Default: `allow` for a job with `overlap: allow`, else `buffer`. */
  overlap?: BackfillOverlap;
  /** Runs enqueued per second at most, 1–1000 (default 10). */
  rate?: number;
  dryRun?: boolean;
}

/** `GET /api/v1/backfills`. */
export interface BackfillsResponse {
  backfills: BackfillRecord[];
}

/** Every error answer. */
export interface ErrorResponse {
  error: { code: string; message: string };
}
