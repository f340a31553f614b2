// A fast reader for the YAML that definitions files are made of in practice: block mappings and
// sequences indented with spaces, one-line flow collections (`payload: { mode: full }`), plain
// and quoted one-line scalars, comments. It returns the same plain JavaScript value as the `yaml`
// package's `parse`, plus where each mapping's `name` value stands, at a fraction of the cost
// (no token tree, no document nodes: 100,000 jobs read in ~0.2 s instead of ~5 s).
//
// It reads a strict subset and gives up (returns undefined) on anything else: anchors, aliases,
// tags, block scalars, multi-line scalars, escapes in double quotes, tabs, document markers,
// directives, complex keys, keys that are not plain words, control and special line-break
// characters, and any indentation or layout it does not fully understand. The caller then reads
// the file with `yaml`, which also words every problem precisely; so this reader never has to
// explain anything, only to be right when it answers. The unit tests check on random documents
// that whenever it answers, the answer equals `yaml`'s.

/** Where a scalar stands: 1-based line and column (UTF-16 units, as `yaml`'s LineCounter). */
export interface FastPosition {
  line: number;
  col: number;
}

export interface FastYaml {
  /** The document as `yaml`'s `parse` would give it. */
  value: unknown;
  /** For every mapping with a `name` value written after its key: where that value starts. */
  names: Map<object, FastPosition>;
}

/** Collections inside each other beyond this: leave it to `yaml` (and its depth limit). */
const MAX_FAST_DEPTH = 16;

/** Thrown inside the reader when the text is outside its subset. */
const NOT_SURE: unique symbol = Symbol('not sure');

function notSure(): never {
  throw NOT_SURE;
}

/**
 * Characters the reader leaves to `yaml`: controls (tab included), NEL, LS, PS, BOM,
 * non-characters, a CR not before LF.
 */
const UNSURE_CHARS =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|\r(?!\n)/;
/** A lone UTF-16 surrogate (not printable for YAML). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** A block mapping key: a plain word followed by `:` and a space or the end of the line. */
const BLOCK_KEY = /([A-Za-z0-9_][A-Za-z0-9_./-]*):(?=[ \r\n]|$)/y;
/** A plain key inside a flow mapping, followed by `: `. */
const FLOW_KEY = /([A-Za-z0-9_][A-Za-z0-9_./-]*): /y;

// YAML 1.2 core schema, in the order `yaml` tries its tags.
const NULL_RE = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL_RE = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT_RE = /^0o[0-7]+$/;
const INT_RE = /^[-+]?[0-9]+$/;
const INT_HEX_RE = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN_RE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP_RE = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT_RE = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** The value of a plain scalar under the core schema. */
function resolvePlain(s: string): unknown {
  if (NULL_RE.test(s)) return null;
  const c = s.charCodeAt(0);
  // Most values (names, schedules' words, policies) start with a letter other than those of
  // null/true/false/.inf: strings, no regex needed.
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) {
    if (BOOL_RE.test(s)) return s.charCodeAt(0) === 0x74 || s.charCodeAt(0) === 0x54;
    if (c === 0x6e || c === 0x4e) return NULL_RE.test(s) ? null : s;
    return s;
  }
  if (INT_OCT_RE.test(s)) return parseInt(s.substring(2), 8);
  if (INT_RE.test(s)) return parseInt(s, 10);
  if (INT_HEX_RE.test(s)) return parseInt(s.substring(2), 16);
  if (FLOAT_NAN_RE.test(s)) {
    return s.slice(-3).toLowerCase() === 'nan'
      ? NaN
      : s[0] === '-'
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY;
  }
  if (FLOAT_EXP_RE.test(s) || FLOAT_RE.test(s)) return parseFloat(s);
  return s;
}

/** A character a plain scalar may start with, within this reader's subset. */
function plainStart(text: string, i: number, end: number): boolean {
  const c = text.charCodeAt(i);
  if (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2e || // .
    c === 0x2f || // /
    c === 0x7e || // ~
    c === 0x2b || // +
    c === 0x28 || // (
    c === 0x24 || // $
    c === 0x3d || // =
    c >= 0xa0
  ) {
    return true;
  }
  // `-x`, `-1`, `-.5` are plain; `- x` is a list item, `--` may be a document marker, `-]` ends.
  if (c === 0x2d && i + 1 < end) {
    const n = text.charCodeAt(i + 1);
    return (
      (n >= 0x61 && n <= 0x7a) || (n >= 0x41 && n <= 0x5a) || (n >= 0x30 && n <= 0x39) || n === 0x2e
    );
  }
  return false;
}

function isPlainObjectKeyOk(key: string): boolean {
  return key !== '__proto__';
}

class Reader {
  /** Per line: start offset, end offset (before `\r\n` / `\n`), indentation (spaces). */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly indents: number[] = [];
  /** Per line: its 1-based number in the text (blank and comment lines counted). */
  private readonly lines: number[] = [];
  /** The current line: the next one to read (always a content line, or lines.length). */
  private cur = 0;
  readonly names = new Map<object, FastPosition>();

  constructor(private readonly text: string) {
    let start = 0;
    let line = 1;
    const n = text.length;
    for (; start <= n; line++) {
      let nl = text.indexOf('\n', start);
      if (nl === -1) nl = n;
      let end = nl;
      if (end > start && text.charCodeAt(end - 1) === 0x0d) end--;
      let i = start;
      while (i < end && text.charCodeAt(i) === 0x20) i++;
      // Blank and comment-only lines carry nothing.
      if (i < end && text.charCodeAt(i) !== 0x23) {
        const c = text.charCodeAt(i);
        // Directives and document markers (`%`, `---`, `...`): not in the subset.
        if (
          c === 0x25 ||
          ((c === 0x2d || c === 0x2e) && text.startsWith(c === 0x2d ? '---' : '...', i))
        ) {
          notSure();
        }
        this.starts.push(start);
        this.ends.push(end);
        this.indents.push(i - start);
        this.lines.push(line);
      }
      if (nl === n) break;
      start = nl + 1;
    }
  }

  read(): unknown {
    if (this.starts.length === 0 || this.indents[0] !== 0) notSure();
    const value = this.blockNode(0, 1);
    if (this.cur !== this.starts.length) notSure();
    return value;
  }

  /** Where `offset` (on the current line) stands. */
  private pos(offset: number): FastPosition {
    return { line: this.lines[this.cur]!, col: offset - this.starts[this.cur]! + 1 };
  }

  /** A block mapping or sequence whose first line (the current one) is indented by `col`. */
  private blockNode(col: number, depth: number): unknown {
    if (depth > MAX_FAST_DEPTH) notSure();
    const at = this.starts[this.cur]! + col;
    if (this.isSeqItem(at, this.ends[this.cur]!)) return this.blockSeq(col, depth);
    return this.blockMap(col, depth, at);
  }

  private isSeqItem(at: number, end: number): boolean {
    return (
      this.text.charCodeAt(at) === 0x2d && (at + 1 === end || this.text.charCodeAt(at + 1) === 0x20)
    );
  }

  /**
   * A block mapping at column `col`. Its first key starts at `first` on the current line (after a
   * `- ` when the mapping is a list item); the other keys start lines indented by exactly `col`.
   */
  private blockMap(col: number, depth: number, first: number): Record<string, unknown> {
    const obj: Record<string, unknown> = {};
    let at = first;
    for (;;) {
      const end = this.ends[this.cur]!;
      BLOCK_KEY.lastIndex = at;
      const m = BLOCK_KEY.exec(this.text);
      if (m === null) notSure();
      const key = m[1]!;
      if (typeof resolvePlain(key) !== 'string' || !isPlainObjectKeyOk(key)) notSure();
      if (Object.prototype.hasOwnProperty.call(obj, key)) notSure();
      const valueAt = skipSpaces(this.text, at + key.length + 1, end);
      if (valueAt === end || this.text.charCodeAt(valueAt) === 0x23) {
        if (valueAt !== end && valueAt === at + key.length + 1) notSure();
        // The value is on the next lines (or empty).
        this.cur++;
        obj[key] = this.nestedValue(col, depth);
      } else {
        if (key === 'name') this.names.set(obj, this.pos(valueAt));
        obj[key] = this.inlineValue(valueAt, end, depth);
        this.cur++;
      }
      if (this.cur === this.starts.length) return obj;
      const indent = this.indents[this.cur]!;
      if (indent < col) return obj;
      if (indent > col) notSure();
      at = this.starts[this.cur]! + col;
      if (this.isSeqItem(at, this.ends[this.cur]!)) {
        // A list at the mapping's own column ends it only when the mapping is a list item.
        return obj;
      }
    }
  }

  /** The value of `key:` with nothing after it on its line: the lines below, or null. */
  private nestedValue(col: number, depth: number): unknown {
    if (this.cur === this.starts.length) return null;
    const indent = this.indents[this.cur]!;
    if (indent > col) return this.blockNode(indent, depth + 1);
    if (indent === col && this.isSeqItem(this.starts[this.cur]! + col, this.ends[this.cur]!)) {
      return this.blockSeq(col, depth + 1);
    }
    return null;
  }

  /** A block sequence whose items start lines indented by `col` with `- `. */
  private blockSeq(col: number, depth: number): unknown[] {
    if (depth > MAX_FAST_DEPTH) notSure();
    const list: unknown[] = [];
    for (;;) {
      const start = this.starts[this.cur]!;
      const end = this.ends[this.cur]!;
      const dash = start + col;
      const itemAt = skipSpaces(this.text, dash + 1, end);
      // `- - x` (a list in a list on one line): not in the subset.
      if (this.isSeqItem(itemAt, end)) notSure();
      BLOCK_KEY.lastIndex = itemAt;
      if (itemAt === end || this.text.charCodeAt(itemAt) === 0x23) {
        // `-` alone: the item is on the lines below, indented more, or empty.
        this.cur++;
        const below = this.cur < this.starts.length ? this.indents[this.cur]! : -1;
        list.push(below > col ? this.blockNode(below, depth + 1) : null);
      } else if (BLOCK_KEY.test(this.text)) {
        list.push(this.blockMap(itemAt - start, depth + 1, itemAt));
      } else {
        list.push(this.inlineValue(itemAt, end, depth));
        this.cur++;
      }
      if (this.cur === this.starts.length) return list;
      const indent = this.indents[this.cur]!;
      if (indent < col) return list;
      if (indent > col) notSure();
      // Same column: another item, or (for a list under a key at this column) the next key.
      if (!this.isSeqItem(this.starts[this.cur]! + col, this.ends[this.cur]!)) return list;
    }
  }

  /** A scalar or flow collection that must end its line (a comment may follow). */
  private inlineValue(at: number, end: number, depth: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(at);
    let value: unknown;
    let after: number;
    if (c === 0x7b || c === 0x5b) {
      [value, after] = this.flow(at, end, depth + 1);
    } else if (c === 0x22 || c === 0x27) {
      [value, after] = quoted(text, at, end);
    } else {
      if (!plainStart(text, at, end)) notSure();
      // A plain scalar runs to the end of the line or to ` #`.
      let stop = at;
      while (
        stop < end &&
        !(text.charCodeAt(stop) === 0x23 && text.charCodeAt(stop - 1) === 0x20)
      ) {
        stop++;
      }
      let last = stop;
      while (last > at && text.charCodeAt(last - 1) === 0x20) last--;
      const s = text.slice(at, last);
      // `a: b: c` and `a: b:` are errors or nested mappings: leave them to yaml.
      if (s.includes(': ') || s.endsWith(':')) notSure();
      return resolvePlain(s);
    }
    endOfLine(text, after, end);
    return value;
  }

  /** A one-line flow collection starting at `at`: its value and the offset after it. */
  private flow(at: number, end: number, depth: number): [unknown, number] {
    if (depth > MAX_FAST_DEPTH) notSure();
    const text = this.text;
    const isMap = text.charCodeAt(at) === 0x7b;
    const close = isMap ? 0x7d : 0x5d;
    let i = skipSpaces(text, at + 1, end);
    const out: unknown = isMap ? {} : [];
    if (i < end && text.charCodeAt(i) === close) return [out, i + 1];
    for (;;) {
      if (i >= end) notSure();
      if (isMap) {
        const obj = out as Record<string, unknown>;
        let key: string;
        const k = text.charCodeAt(i);
        if (k === 0x22 || k === 0x27) {
          let after: number;
          [key, after] = quoted(text, i, end);
          if (text.charCodeAt(after) !== 0x3a) notSure();
          i = after + 1;
        } else {
          FLOW_KEY.lastIndex = i;
          const m = FLOW_KEY.exec(text);
          if (m === null || FLOW_KEY.lastIndex > end) notSure();
          key = m[1]!;
          if (typeof resolvePlain(key) !== 'string') notSure();
          i = FLOW_KEY.lastIndex;
        }
        if (!isPlainObjectKeyOk(key) || Object.prototype.hasOwnProperty.call(obj, key)) notSure();
        i = skipSpaces(text, i, end);
        if (key === 'name') this.names.set(obj, this.pos(i));
        let value: unknown;
        [value, i] = this.flowItem(i, end, depth);
        obj[key] = value;
      } else {
        let value: unknown;
        [value, i] = this.flowItem(i, end, depth);
        (out as unknown[]).push(value);
      }
      i = skipSpaces(text, i, end);
      if (i >= end) notSure();
      const c = text.charCodeAt(i);
      if (c === close) return [out, i + 1];
      if (c !== 0x2c) notSure();
      i = skipSpaces(text, i + 1, end);
      // Trailing and empty entries (`[a, ]`, `{a: 1,,}`): leave them to yaml.
      if (i >= end || text.charCodeAt(i) === close || text.charCodeAt(i) === 0x2c) notSure();
    }
  }

  /** One entry value inside a flow collection. */
  private flowItem(at: number, end: number, depth: number): [unknown, number] {
    const text = this.text;
    if (at >= end) notSure();
    const c = text.charCodeAt(at);
    if (c === 0x7b || c === 0x5b) return this.flow(at, end, depth + 1);
    if (c === 0x22 || c === 0x27) {
      const r = quoted(text, at, end);
      // `["a": 1]` is a one-pair mapping: leave it to yaml.
      if (text.charCodeAt(skipSpaces(text, r[1], end)) === 0x3a) notSure();
      return r;
    }
    if (!plainStart(text, at, end)) notSure();
    let i = at;
    let last = at;
    for (; i < end; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 0x2c || ch === 0x5b || ch === 0x5d || ch === 0x7b || ch === 0x7d) break;
      if (ch === 0x3a) notSure();
      if (ch === 0x23 && text.charCodeAt(i - 1) === 0x20) notSure();
      if (ch !== 0x20) last = i + 1;
    }
    return [resolvePlain(text.slice(at, last)), i];
  }
}

function skipSpaces(text: string, i: number, end: number): number {
  while (i < end && text.charCodeAt(i) === 0x20) i++;
  return i;
}

/** After a value: only spaces, then the end of the line or a ` # comment`. */
function endOfLine(text: string, at: number, end: number): void {
  const i = skipSpaces(text, at, end);
  if (i === end) return;
  if (text.charCodeAt(i) !== 0x23 || i === at) notSure();
}

/** A one-line quoted scalar at `at` (without escapes in double quotes): its text and the offset after it. */
function quoted(text: string, at: number, end: number): [string, number] {
  const q = text.charCodeAt(at);
  if (q === 0x22) {
    const close = text.indexOf('"', at + 1);
    if (close === -1 || close >= end) notSure();
    const s = text.slice(at + 1, close);
    if (s.includes('\\')) notSure();
    return [s, close + 1];
  }
  let out = '';
  let from = at + 1;
  for (;;) {
    const close = text.indexOf("'", from);
    if (close === -1 || close >= end) notSure();
    if (text.charCodeAt(close + 1) === 0x27 && close + 1 < end) {
      out += text.slice(from, close + 1);
      from = close + 2;
      continue;
    }
    return [out + text.slice(from, close), close + 1];
  }
}

/**
 * Reads `text` when it is within the subset described above, else returns undefined (read it
 * with `yaml` then). Never throws.
 */
export function readFastYaml(text: string): FastYaml | undefined {
  if (UNSURE_CHARS.test(text) || LONE_SURROGATE.test(text)) return undefined;
  try {
    const reader = new Reader(text);
    const value = reader.read();
    return { value, names: reader.names };
  } catch (err) {
    if (err === NOT_SURE) return undefined;
    // A RangeError (stack) or any slip of this reader: yaml decides.
    return undefined;
  }
}
