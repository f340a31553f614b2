// The HTTP API, typed by the server's own types (src/api/types.ts).

/**
 * @import { AuditResponse, BackfillPlan, BackfillRecord, BackfillRequest, BackfillsResponse,
 *   ErrorResponse,
 *   JobDetailResponse, JobHistory, JobsResponse, LeadersResponse, PauseRecord, StatusResponse }
 *   from '../../../api/types.js'
 */

import { API } from './config.js';
import { readOperator, readToken } from './settings.js';

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the replica could not be reached
   * @param {string} code the API's error code (`UNAUTHORIZED`, ...)
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * One request; changes carry the token and the operator's name.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function request(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  /** @type {RequestInit} */
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET') {
    const token = readToken();
    if (token) headers.authorization = `Bearer ${token}`;
    const operator = readOperator();
    if (operator) headers['x-baton-operator'] = operator;
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `this replica cannot be reached (${message(err)})`);
  }
  /** @type {unknown} */
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    /** @type {Partial<ErrorResponse['error']>} */
    const error = /** @type {Partial<ErrorResponse>} */ (data ?? {}).error ?? {};
    throw new ApiError(
      res.status,
      error.code ?? `HTTP_${res.status}`,
      error.message ?? (res.statusText || 'request failed'),
    );
  }
  return data;
}

/** @param {unknown} err */
export function message(err) {
  return err instanceof Error ? err.message : String(err);
}

/** @param {string} name */
const jobPath = (name) => `/jobs/${encodeURIComponent(name)}`;

export const api = {
  /** @returns {Promise<StatusResponse>} */
  status: async () => /** @type {StatusResponse} */ (await request('GET', '/status')),
  /**
   * @param {number} limit
   * @param {string} filter
   * @returns {Promise<JobsResponse>}
   */
  jobs: async (limit, filter) =>
    /** @type {JobsResponse} */ (
      await request(
        'GET',
        `/jobs?limit=${limit}${filter ? `&q=${encodeURIComponent(filter)}` : ''}`,
      )
    ),
  /**
   * @param {string} name
   * @returns {Promise<JobDetailResponse>}
   */
  job: async (name) => /** @type {JobDetailResponse} */ (await request('GET', jobPath(name))),
  /**
   * @param {string} name
   * @param {number} limit
   * @returns {Promise<JobHistory>}
   */
  history: async (name, limit) =>
    /** @type {JobHistory} */ (await request('GET', `${jobPath(name)}/history?limit=${limit}`)),
  /**
   * The audit of one job over the last 24 hours (the API's default range).
   * @param {string} name
   * @returns {Promise<AuditResponse>}
   */
  audit: async (name) =>
    /** @type {AuditResponse} */ (await request('GET', `/audit?job=${encodeURIComponent(name)}`)),
  /**
   * @param {number} since epoch ms
   * @returns {Promise<LeadersResponse>}
   */
  leaders: async (since) =>
    /** @type {LeadersResponse} */ (
      await request('GET', `/cluster/leaders?since=${new Date(since).toISOString()}`)
    ),
  /**
   * @param {string} name
   * @param {string} reason
   * @returns {Promise<{ job: string; paused: PauseRecord }>}
   */
  pause: async (name, reason) =>
    /** @type {{ job: string; paused: PauseRecord }} */ (
      await request('POST', `${jobPath(name)}/pause`, reason ? { reason } : {})
    ),
  /**
   * @param {string} name
   * @returns {Promise<{ job: string; resumed: boolean }>}
   */
  resume: async (name) =>
    /** @type {{ job: string; resumed: boolean }} */ (
      await request('POST', `${jobPath(name)}/resume`, {})
    ),
  /**
   * @param {string} name
   * @returns {Promise<{ job: string; fireId: string }>}
   */
  trigger: async (name) =>
    /** @type {{ job: string; fireId: string }} */ (
      await request('POST', `${jobPath(name)}/trigger`, {})
    ),
  /**
   * The plan of a backfill (a dry run: nothing changes).
   * @param {string} name
   * @param {Omit<BackfillRequest, 'dryRun'>} body
   * @returns {Promise<BackfillPlan>}
   */
  backfillPlan: async (name, body) =>
    /** @type {BackfillPlan} */ (
      await request('POST', `${jobPath(name)}/backfill`, { ...body, dryRun: true })
    ),
  /**
   * Asks the leader to run the range: answers the request record (`pending`).
   * @param {string} name
   * @param {Omit<BackfillRequest, 'dryRun'>} body
   * @returns {Promise<BackfillRecord>}
   */
  backfill: async (name, body) =>
    /** @type {BackfillRecord} */ (await request('POST', `${jobPath(name)}/backfill`, body)),
  /**
   * @param {string} id
   * @returns {Promise<BackfillRecord>}
   */
  backfillRecord: async (id) =>
    /** @type {BackfillRecord} */ (await request('GET', `/backfills/${encodeURIComponent(id)}`)),
  /** Every backfill request, oldest first. @returns {Promise<BackfillsResponse>} */
  backfills: async () => /** @type {BackfillsResponse} */ (await request('GET', '/backfills')),
  /**
   * Cancels a pending or running backfill: answers the record as the cancel wrote it.
   * @param {string} id
   * @returns {Promise<BackfillRecord>}
   */
  cancelBackfill: async (id) =>
    /** @type {BackfillRecord} */ (
      await request('POST', `/backfills/${encodeURIComponent(id)}/cancel`)
    ),
};

/**
 * What went wrong with a change, and what to do about it.
 * @param {unknown} err
 * @param {string} action
 */
export function explain(err, action) {
  if (!(err instanceof ApiError)) return `Could not ${action}: ${message(err)}`;
  switch (err.code) {
    case 'UNAUTHORIZED':
      return `Could not ${action}: an API token is needed (401 UNAUTHORIZED). Paste BATON_API_TOKEN in the token field.`;
    case 'FORBIDDEN':
      return `Could not ${action}: the saved API token was refused (403 FORBIDDEN). Paste the replicas' BATON_API_TOKEN in the token field.`;
    case 'MUTATIONS_DISABLED':
      return `Could not ${action}: changes are turned off on this replica (403 MUTATIONS_DISABLED) because it runs without BATON_API_TOKEN. Set it on the replicas, or use the baton CLI.`;
    case 'NETWORK':
      return `Could not ${action}: ${err.message}.`;
    default:
      return `Could not ${action}: ${err.message} (${err.status} ${err.code}).`;
  }
}
