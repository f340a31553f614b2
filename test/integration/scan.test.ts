import { Etcd3 } from 'etcd3';
import { afterAll, expect, inject, it } from 'vitest';
import { scanPages } from '../../src/coordination/scan.js';
import { testClientOptions } from '../helpers/etcd.js';
import { testNamespace } from '../helpers/namespace.js';

const etcd = new Etcd3(testClientOptions([inject('etcdEndpoint')]));
afterAll(() => etcd.close());

it("scanPages: every key of the prefix once, in key order, all pages at the first page's revision", async () => {
  const ns = testNamespace('scan');
  const prefix = `${ns}/p/`;
  // Written out of key order; a key just outside the prefix is not read.
  const names = Array.from({ length: 25 }, (_, i) => `k${String((i * 7) % 25).padStart(2, '0')}`);
  for (const n of names) await etcd.put(`${prefix}${n}`).value(n);
  await etcd.put(`${ns}/p0`).value('outside');

  const pages: string[][] = [];
  let revision: string | null = null;
  for await (const page of scanPages(etcd, prefix, 10)) {
    revision ??= page.revision;
    expect(page.revision).toBe(revision);
    pages.push(page.kvs.map((kv) => kv.key.toString().slice(prefix.length)));
    // Written while the scan runs: after its revision, so never part of it.
    await etcd.put(`${prefix}k${pages.length}x`).value('late');
    await etcd.delete().key(`${prefix}k24`);
  }
  expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
  expect(pages.flat()).toEqual([...names].sort());
});
