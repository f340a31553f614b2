import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Keys } from './keys.js';
import { scanPrefix } from './scan.js';

/** An operator's pause of a job (`<ns>/paused/<job>`). */
export interface PauseRecord {
  by: string;
  reason: string | null;
  /** ISO time of the pause. */
  at: string;
}

/** An operator's request to run a job now (`<ns>/triggers/<id>`), consumed by the leader. */
export interface TriggerRecord {
  id: string;
  job: string;
  by: string;
  at: string;
  /** Replaces the definition's payload when given. */
  payload?: unknown;
}

/**
 * Operator intents: written by any CLI or API call straight into etcd and honoured by the leader
 * through its watches, so no operator action ever bypasses the fenced leader.
 */
export class Intents {
  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
  ) {}

  async pause(job: string, by: string, reason: string | null): Promise<PauseRecord> {
    const record: PauseRecord = { by, reason, at: new Date().toISOString() };
    await this.etcd.put(this.keys.paused(job)).value(JSON.stringify(record));
    return record;
  }

  /** Returns the pause that was lifted, or null when the job was not paused. */
  async resume(job: string): Promise<PauseRecord | null> {
    const prev = await this.etcd.delete().key(this.keys.paused(job)).getPrevious();
    const kv = prev[0];
    return kv ? parse<PauseRecord>(kv.value.toString()) : null;
  }

  async trigger(job: string, by: string, payload?: unknown): Promise<TriggerRecord> {
    // Sortable by time so the leader consumes requests in order.
    const id = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
    const record: TriggerRecord = { id, job, by, at: new Date().toISOString() };
    if (payload !== undefined) record.payload = payload;
    await this.etcd.put(this.keys.trigger(id)).value(JSON.stringify(record));
    return record;
  }

  async readPaused(): Promise<{ paused: Map<string, PauseRecord>; revision: string }> {
    const res = await scanPrefix(this.etcd, this.keys.pausedPrefix);
    const paused = new Map<string, PauseRecord>();
    for (const kv of res.kvs) {
      const rec = parse<PauseRecord>(kv.value.toString());
      if (rec) paused.set(kv.key.toString().slice(this.keys.pausedPrefix.length), rec);
    }
    return { paused, revision: res.revision };
  }

  async readTriggers(): Promise<{ triggers: TriggerRecord[]; revision: string }> {
    const res = await scanPrefix(this.etcd, this.keys.triggersPrefix);
    const triggers: TriggerRecord[] = [];
    for (const kv of res.kvs) {
      const rec = parse<TriggerRecord>(kv.value.toString());
      if (rec) triggers.push(rec);
    }
    return { triggers, revision: res.revision };
  }
}

function parse<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
