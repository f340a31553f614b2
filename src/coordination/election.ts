import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { NotLeaderError, SessionEnd } from '../errors.js';
import type { Keys } from './keys.js';
import type { Session } from './session.js';
import { openWatch } from './watch.js';

/** What a leader holds: the key it campaigned with and that key's create revision. */
export interface Leadership {
  /** `<ns>/election/<leaseId>`. */
  key: string;
  /** Create revision of {@link key}, as a decimal string: the fencing token. */
  token: string;
  /**
   * Aborted when leadership is certainly over (own key deleted, session ended); its `reason` is
   * a {@link SessionEnd}.
   */
  signal: AbortSignal;
}

/** The value of a campaign key: who campaigns. */
export interface CandidateInfo {
  id: string;
  http: string | null;
}

/**
 * Campaigns for leadership the way etcd's Go `concurrency.Election.Campaign` does: create
 * `<ns>/election/<leaseId>` (Create == 0) on the session's lease; its create revision is the
 * fencing token; then wait until every campaign key with a lower create revision is deleted,
 * watching the next lower one (no polling). Resolves once this replica leads; rejects when the
 * session ends first.
 * @see https://github.com/etcd-io/etcd/blob/v3.4.0/clientv3/concurrency/election.go#L63
 * @see https://github.com/etcd-io/etcd/blob/v3.4.0/clientv3/concurrency/key.go#L27 (waitDeletes)
 */
export async function campaign(
  etcd: Etcd3,
  keys: Keys,
  session: Session,
  info: CandidateInfo,
): Promise<Leadership> {
  const key = keys.election(session.leaseId);
  const res = await etcd
    .if(key, 'Create', '==', 0)
    .then(etcd.put(key).value(JSON.stringify(info)).lease(session.leaseId))
    .else(etcd.get(key))
    .commit();
  const token = res.succeeded
    ? res.header.revision
    : (res.responses[0]?.response_range.kvs[0]?.create_revision ?? null);
  if (token === null) throw new NotLeaderError('campaign key vanished while campaigning');

  const before = (BigInt(token) - 1n).toString();
  for (;;) {
    if (session.ended) {
      throw new NotLeaderError(`session ended: ${String(session.signal.reason)}`, session.ending!);
    }
    const lower = await etcd
      .getAll()
      .prefix(keys.electionPrefix)
      .maxCreateRevision(before)
      .sort('Create', 'Descend')
      .limit(1)
      .exec();
    const blocker = lower.kvs[0];
    if (!blocker) break;
    await waitDelete(etcd, blocker, lower.header.revision, session.signal);
  }

  const leadership = new AbortController();
  let ownKeyWatch: Watcher | null = null;
  const stop = (reason: SessionEnd) => {
    if (!leadership.signal.aborted) leadership.abort(reason);
    void ownKeyWatch?.cancel().catch(() => undefined);
  };
  // etcd3's Campaign misses the deletion of its own key; baton watches it (docs/architecture.md, Election).
  ownKeyWatch = await openWatch(etcd.watch().key(key).startRevision(token).only('delete'), (w) => {
    w.on('delete', () => stop(new SessionEnd('key_deleted', 'own election key was deleted')));
    w.on('error', (err) =>
      stop(new SessionEnd('watch_failed', `watch on own election key failed: ${err.message}`)),
    );
  });
  if (leadership.signal.aborted) void ownKeyWatch.cancel().catch(() => undefined);
  session.signal.addEventListener('abort', () => stop(session.ending!), { once: true });
  if (session.ended) stop(session.ending!);
  return { key, token, signal: leadership.signal };
}

/** Resolves when `kv` is deleted (watching from the revision it was read at). */
async function waitDelete(
  etcd: Etcd3,
  kv: IKeyValue,
  readRevision: string,
  signal: AbortSignal,
): Promise<void> {
  const opened: { watcher?: Watcher } = {};
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () =>
        reject(
          new NotLeaderError(
            `session ended: ${String(signal.reason)}`,
            SessionEnd.of(signal.reason),
          ),
        );
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error) => {
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      openWatch(
        etcd
          .watch()
          .key(kv.key)
          .startRevision((BigInt(readRevision) + 1n).toString())
          .only('delete'),
        (w) => {
          opened.watcher = w;
          w.once('delete', () => done());
          w.once('error', (err) => done(err));
        },
      ).catch((err: Error) => done(err));
    });
  } finally {
    await opened.watcher?.cancel().catch(() => undefined);
  }
}

/**
 * The current leader: the campaign key with the lowest create revision. Unlike etcd3's
 * ElectionObserver, this is one consistent range read, so it cannot report a stale leader
 * from an event race.
 */
export async function currentLeader(
  etcd: Etcd3,
  keys: Keys,
): Promise<(CandidateInfo & { token: string; key: string }) | null> {
  const res = await etcd
    .getAll()
    .prefix(keys.electionPrefix)
    .sort('Create', 'Ascend')
    .limit(1)
    .exec();
  const kv = res.kvs[0];
  if (!kv) return null;
  let info: CandidateInfo;
  try {
    info = JSON.parse(kv.value.toString()) as CandidateInfo;
  } catch {
    info = { id: kv.value.toString(), http: null };
  }
  return { ...info, token: kv.create_revision, key: kv.key.toString() };
}
