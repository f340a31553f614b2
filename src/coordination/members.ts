import type { Etcd3 } from 'etcd3';
import type { Keys } from './keys.js';
import { scanPrefix } from './scan.js';
import type { Session } from './session.js';

export const REPLICA_STATES = ['leader', 'follower', 'unknown'] as const;
export type ReplicaState = (typeof REPLICA_STATES)[number];

/** What a replica publishes about itself under `<ns>/members/<id>` (bound to its lease). */
export interface MemberInfo {
  id: string;
  host: string;
  pid: number;
  version: string;
  state: ReplicaState;
  /** sha256 of the loaded definitions: replicas that disagree show different hashes. */
  definitionsHash: string;
  /** Base URL of its HTTP API, or null. */
  http: string | null;
  /** Whether it can reach Redis (a leader that cannot keeps committing to the outbox). */
  redisReady: boolean;
  startedAt: string;
  /** Last time the record was written (the heartbeat). */
  updatedAt: string;
  /** Fencing token while leader. */
  token: string | null;
}

/** Writes the member record on the session's lease. */
export async function putMember(
  etcd: Etcd3,
  keys: Keys,
  session: Session,
  info: MemberInfo,
): Promise<void> {
  await etcd.put(keys.member(info.id)).value(JSON.stringify(info)).lease(session.leaseId);
}

export async function listMembers(etcd: Etcd3, keys: Keys): Promise<MemberInfo[]> {
  const res = await scanPrefix(etcd, keys.membersPrefix);
  const out: MemberInfo[] = [];
  for (const kv of res.kvs) {
    try {
      out.push(JSON.parse(kv.value.toString()) as MemberInfo);
    } catch {
      // A foreign or corrupt record is not a member.
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
