import { Range, type Etcd3, type IKeyValue } from 'etcd3';

/** Keys per page: 100,000 watermarks in one response exceed gRPC's 4 MiB message limit. */
const PAGE = 5000;

/** One page of {@link scanPages}: its key-values and the revision every page is read at. */
export interface ScanPage {
  kvs: IKeyValue[];
  revision: string;
}

/**
 * The key-values under `prefix`, in key order, one page at a time, every page at the revision of
 * the first (a consistent snapshot however many pages it takes). A caller that keeps only what it
 * parses from each page holds one page of raw key-values at a time.
 *
 * No sort is asked for: etcd returns a range in key order anyway, and etcd 3.4 serves a sorted
 * range with a limit by reading and sorting every key up to the range's end before cutting the
 * page, so each page cost as much as the rest of the prefix (100,000 watermarks in pages of
 * 5,000: ~4 s against ~1.3 s unsorted on the 2-core development machine).
 */
export async function* scanPages(
  etcd: Etcd3,
  prefix: string,
  page = PAGE,
): AsyncGenerator<ScanPage, void, undefined> {
  const end = Range.prefix(prefix).end;
  let start: Buffer = Buffer.from(prefix);
  let revision: string | undefined;
  for (;;) {
    let q = etcd.getAll().inRange(new Range(start, end)).limit(page);
    if (revision !== undefined) q = q.revision(revision);
    const res = await q.exec();
    revision ??= res.header.revision;
    yield { kvs: res.kvs, revision };
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) return;
    // The next page starts just after the last key: the key followed by a zero byte.
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/**
 * Every key-value under `prefix`, in key order, read page by page at one revision (see
 * {@link scanPages}). Returns the revision it read at.
 */
export async function scanPrefix(
  etcd: Etcd3,
  prefix: string,
): Promise<{ kvs: IKeyValue[]; revision: string }> {
  const kvs: IKeyValue[] = [];
  let revision = '';
  for await (const p of scanPages(etcd, prefix)) {
    revision = p.revision;
    for (const kv of p.kvs) kvs.push(kv);
  }
  return { kvs, revision };
}
