import { Etcd3 } from 'etcd3';
import { afterAll, inject, it } from 'vitest';
import { openWatch } from '../../src/coordination/watch.js';
import { testClientOptions } from '../helpers/etcd.js';
import { testNamespace } from '../helpers/namespace.js';
import { waitFor } from '../helpers/wait.js';

const etcd = new Etcd3(testClientOptions([inject('etcdEndpoint')]));
afterAll(() => etcd.close());

it('openWatch: several watches opened together from a past revision each replay every event', async () => {
  const ns = testNamespace('watch');
  const prefixes = ['a/', 'b/', 'c/'].map((p) => `${ns}/${p}`);
  const first = await etcd.put(`${prefixes[0]}k0`).value('0').exec();
  const writes: Promise<unknown>[] = [];
  for (let i = 1; i < 300; i++)
    writes.push(
      etcd
        .put(`${prefixes[i % 3]}k${i}`)
        .value(String(i))
        .exec(),
    );
  await Promise.all(writes);
  await etcd.delete().key(`${prefixes[1]}k1`);

  const seen = prefixes.map(() => ({ puts: 0, deletes: 0 }));
  const watchers = await Promise.all(
    prefixes.map((prefix, i) =>
      openWatch(etcd.watch().prefix(prefix).startRevision(first.header.revision), (w) => {
        w.on('put', () => seen[i]!.puts++);
        w.on('delete', () => seen[i]!.deletes++);
      }),
    ),
  );
  try {
    // Every event since `first`, replayed to listeners that existed before the watch opened.
    await waitFor(() => seen.every((s, i) => s.puts === 100 && s.deletes === (i === 1 ? 1 : 0)), {
      timeoutMs: 5_000,
      description: `every replayed event (seen ${JSON.stringify(seen)})`,
    });
    // And live events after that.
    await etcd.put(`${prefixes[2]}live`).value('x');
    await waitFor(() => seen[2]!.puts === 101, { timeoutMs: 5_000, description: 'a live put' });
  } finally {
    await Promise.all(watchers.map((w) => w.cancel()));
  }
});
