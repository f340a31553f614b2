import type { Etcd3, Watcher } from 'etcd3';
import type { PauseRecord, TriggerRecord } from '../coordination/intents.js';
import type { Keys } from '../coordination/keys.js';
import { openWatch } from '../coordination/watch.js';

export interface IntentHandlers {
  paused: (job: string, record: PauseRecord) => void;
  resumed: (job: string) => void;
  triggered: (trigger: TriggerRecord) => void;
  /** A watch failed: the leader cannot see operators' intents any more. */
  failed: (err: Error) => void;
}

/**
 * The leader's watches on operator intents (pauses and triggers), each opened from the revision
 * its snapshot was read at, so no intent written in between is missed. Values not written by
 * baton are ignored.
 */
export class IntentWatch {
  private readonly watchers: Watcher[] = [];

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
    private readonly handlers: IntentHandlers,
  ) {}

  async open(pausedRevision: string, triggerRevision: string): Promise<void> {
    const { etcd, keys, handlers } = this;
    const next = (rev: string) => (BigInt(rev) + 1n).toString();
    const paused = await openWatch(
      etcd.watch().prefix(keys.pausedPrefix).startRevision(next(pausedRevision)),
      (w) => {
        w.on('put', (kv) => {
          const job = kv.key.toString().slice(keys.pausedPrefix.length);
          let record: PauseRecord;
          try {
            record = JSON.parse(kv.value.toString()) as PauseRecord;
          } catch {
            return; // not a pause record written by baton
          }
          handlers.paused(job, record);
        });
        w.on('delete', (kv) => handlers.resumed(kv.key.toString().slice(keys.pausedPrefix.length)));
        w.on('error', handlers.failed);
      },
    );
    this.watchers.push(paused);
    const triggers = await openWatch(
      etcd.watch().prefix(keys.triggersPrefix).startRevision(next(triggerRevision)),
      (w) => {
        w.on('put', (kv) => {
          let record: TriggerRecord;
          try {
            record = JSON.parse(kv.value.toString()) as TriggerRecord;
          } catch {
            return; // not a trigger written by baton
          }
          handlers.triggered(record);
        });
        w.on('error', handlers.failed);
      },
    );
    this.watchers.push(triggers);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.watchers.map((w) => w.cancel()));
  }
}
