import { Range, type Etcd3, type IKeyValue } from 'etcd3';

/** Keys per page: 100,000 watermarks in one response exceed gRPC's 4 MiB message limit. */
const PAGE = 5000;

/**
 * Every key-value under `prefix`, in key order, read page by page at one revision (a consistent
 * snapshot however many pages it takes). Returns the revision it read at.
 */
export async function scanPrefix(
  etcd: Etcd3,
  prefix: string,
): Promise<{ kvs: IKeyValue[]; revision: string }> {
  const end = Range.prefix(prefix).end;
  const kvs: IKeyValue[] = [];
  let start: Buffer = Buffer.from(prefix);
  let revision: string | undefined;
  for (;;) {
    let q = etcd.getAll().inRange(new Range(start, end)).sort('Key', 'Ascend').limit(PAGE);
    if (revision !== undefined) q = q.revision(revision);
    const res = await q.exec();
    revision ??= res.header.revision;
    kvs.push(...res.kvs);
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) return { kvs, revision };
    // The next page starts just after the last key: the key followed by a zero byte.
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
}
