/**
 * The etcd key layout of one baton namespace (docs/architecture.md). Every key baton writes is
 * built here so the layout lives in one place.
 */
export interface Keys {
  readonly root: string;
  readonly electionPrefix: string;
  election(leaseId: string): string;
  readonly membersPrefix: string;
  member(replicaId: string): string;
  readonly firesPrefix: string;
  fire(job: string): string;
  readonly outboxPrefix: string;
  outbox(fireId: string): string;
  readonly pausedPrefix: string;
  paused(job: string): string;
  readonly triggersPrefix: string;
  trigger(id: string): string;
  readonly backfillsPrefix: string;
  backfill(id: string): string;
}

export function keys(namespace: string): Keys {
  const root = `${namespace}/`;
  const p = (folder: string) => `${root}${folder}/`;
  return {
    root,
    electionPrefix: p('election'),
    election: (leaseId) => `${p('election')}${leaseId}`,
    membersPrefix: p('members'),
    member: (id) => `${p('members')}${id}`,
    firesPrefix: p('fires'),
    fire: (job) => `${p('fires')}${job}`,
    outboxPrefix: p('outbox'),
    outbox: (fireId) => `${p('outbox')}${fireId}`,
    pausedPrefix: p('paused'),
    paused: (job) => `${p('paused')}${job}`,
    triggersPrefix: p('triggers'),
    trigger: (id) => `${p('triggers')}${id}`,
    backfillsPrefix: p('backfills'),
    backfill: (id) => `${p('backfills')}${id}`,
  };
}
