import {
  Composer,
  LineCounter,
  Parser,
  YAMLParseError,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  visit,
  type CST,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import type { DefinitionProblem } from '../errors.js';
import { capText, excerpt } from '../text.js';
import {
  MAX_FILE_BYTES,
  MAX_JOBS_PER_FILE,
  MAX_LISTED_LOCATIONS,
  MAX_MESSAGE_LENGTH,
  MAX_PAYLOAD_DEPTH,
  MAX_YAML_DEPTH,
} from './limits.js';
import {
  DEFAULT_RETENTION,
  DEFAULT_RETRIES,
  NAME_PATTERN,
  describeValue,
  validateDefaults,
  validateJob,
  type FileDefaults,
  type JobIssue,
  type ValidatedJob,
} from './schema.js';
import type { CalendarDefinition, JobDefinition, RetentionPolicy, RetryPolicy } from './types.js';
import { validateCalendar, type CalendarRef } from './calendars.js';
import { readFastYaml } from './fast-yaml.js';
import { ALERT_EVENTS, locateRef, targetRefs, type AlertsPolicy } from './alerts.js';

/** Where a job name is declared: the position of its `name` value. */
export interface NameLocation {
  name: string;
  file: string;
  line: number;
  col: number;
}

/** The outcome of one definitions file on its own (cross-file duplicates are not in here). */
export interface FileResult {
  /** The file as shown in problems and `JobDefinition.source.file`. */
  file: string;
  /** Jobs of the file that are valid on their own, in file order (in-file duplicates left out). */
  jobs: JobDefinition[];
  /** Every problem of the file, sorted by position. The file is good when this is empty. */
  problems: DefinitionProblem[];
  /** Every well-formed job name the file declares, valid job or not (for duplicate checks). */
  names: NameLocation[];
  /** Calendars of the file that are valid on their own (in-file duplicates left out). */
  calendars?: CalendarDefinition[];
  /** Every well-formed calendar name the file declares (for duplicate checks). */
  calendarNames?: NameLocation[];
  /** Where the file's valid jobs refer to calendars (resolved by the loader). */
  calendarRefs?: CalendarRef[];
}

type Segment = string | number;
type MaybeNode = Node | Pair['key'] | null | undefined;

/** Problems reported per file before the rest are summed up in one line. */
export const MAX_PROBLEMS_PER_FILE = 100;

const SHAPE_HINT =
  'a file holds one job (a mapping with name, schedule, ...) or jobs: followed by a list of jobs';

function hasRange(node: MaybeNode): node is Node & { range: [number, number, number] } {
  return (
    node !== null &&
    node !== undefined &&
    typeof node === 'object' &&
    'range' in node &&
    Array.isArray(node.range)
  );
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  return undefined;
}

function findPair(map: Node, key: string): Pair<unknown, unknown> | undefined {
  if (!isMap(map)) return undefined;
  return map.items.find((pair) => keyText(pair.key) === key);
}

interface Location {
  /** Node of the value at the deepest segment found. */
  value: MaybeNode;
  /** Key node of the deepest pair found (undefined at the root or inside a list). */
  key: MaybeNode;
  /** How many segments were found. */
  depth: number;
}

function walk(root: Node, path: readonly Segment[]): Location {
  let value: MaybeNode = root;
  let key: MaybeNode;
  let depth = 0;
  for (const seg of path) {
    if (isMap(value)) {
      const pair = findPair(value, String(seg));
      if (pair === undefined) break;
      key = pair.key as MaybeNode;
      value = pair.value as MaybeNode;
    } else if (isSeq(value) && typeof seg === 'number' && seg < value.items.length) {
      key = undefined;
      value = value.items[seg] as MaybeNode;
    } else {
      break;
    }
    depth++;
    if (isAlias(value)) break;
  }
  return { value, key, depth };
}

/** The offset a problem about `path` (inside the job at `root`) points at. */
function offsetOf(root: Node, path: readonly Segment[], target: JobIssue['target']): number {
  const rootOffset = hasRange(root) ? root.range[0] : 0;
  if (target === 'parent') {
    const parent = walk(root, path.slice(0, -1));
    return hasRange(parent.value) ? parent.value.range[0] : rootOffset;
  }
  const found = walk(root, path);
  if (target === 'key' && found.depth === path.length && hasRange(found.key)) {
    return found.key.range[0];
  }
  const v = found.value;
  // An empty value (`timeout:`) has a zero-width range after the colon: point at its key.
  const emptyScalar = isScalar(v) && v.value === null && hasRange(v) && v.range[0] === v.range[1];
  if (hasRange(v) && !emptyScalar) return v.range[0];
  if (hasRange(found.key)) return found.key.range[0];
  return rootOffset;
}

/** A job with a `{ env }` or `{ file }` reference among its webhooks. */
function hasSecretRefs(alerts: AlertsPolicy): boolean {
  return ALERT_EVENTS.some((e) => alerts[e].some((t) => targetRefs(t).length > 0));
}

/**
 * Records where each secret reference the mapping `node` writes itself under `alerts:` stands
 * (events it leaves to the file's defaults keep the defaults' places).
 */
function locateSecretRefs(
  node: Node,
  raw: unknown,
  alerts: AlertsPolicy,
  labelPrefix: string,
  file: string,
  lineCounter: LineCounter,
): void {
  const written = (raw as { alerts?: unknown } | null)?.alerts;
  if (written === null || typeof written !== 'object') return;
  for (const event of ALERT_EVENTS) {
    const rawEvent = (written as Record<string, unknown>)[event];
    if (rawEvent === undefined) continue;
    alerts[event].forEach((target, i) => {
      const base: Segment[] = ['alerts', event, ...(Array.isArray(rawEvent) ? [i] : [])];
      for (const { key, ref } of targetRefs(target)) {
        const path =
          key === 'url' ? [...base, 'url'] : [...base, 'headers', key.slice('headers.'.length)];
        const { line, col } = lineCounter.linePos(offsetOf(node, path, 'value'));
        const label = path
          .map((seg, n) => (typeof seg === 'number' ? `[${seg}]` : n === 0 ? seg : `.${seg}`))
          .join('');
        locateRef(ref, { at: `${file}:${line}:${col}`, label: labelPrefix + label });
      }
    });
  }
}

function yamlMessage(error: YAMLError, text: string): string {
  if (error.code === 'DUPLICATE_KEY') {
    const line = text.slice(error.pos[0], error.pos[0] + 300);
    const key = /^\s*("[^"\n]*"|'[^'\n]*'|[^:#\n]*?)\s*:/.exec(line)?.[1];
    return `duplicate key${key ? ` ${excerpt(key.replace(/^["']|["']$/g, ''))}` : ''} (a key may appear only once in a mapping)`;
  }
  if (error.code === 'MULTIPLE_DOCS') {
    return `YAML error: more than one document (---) in the file (${SHAPE_HINT})`;
  }
  return `YAML error: ${error.message}`;
}

/** 1-based line and column of `offset` in `text`. */
function textPos(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/**
 * The offset of the first collection nested deeper than {@link MAX_YAML_DEPTH}, found on the
 * YAML parser's token tree without recursion (the document composer recurses per level and
 * overflows the stack near 800 levels), or null.
 */
function tooDeep(tokens: readonly CST.Token[]): number | null {
  const stack: [CST.Token, number][] = [];
  for (const token of tokens) {
    if (token.type === 'document' && token.value) stack.push([token.value, 0]);
  }
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    if (
      token.type !== 'block-map' &&
      token.type !== 'block-seq' &&
      token.type !== 'flow-collection'
    )
      continue;
    if (depth + 1 > MAX_YAML_DEPTH) return token.offset;
    for (const item of token.items) {
      const i = item as { key?: CST.Token | null; value?: CST.Token };
      if (i.key) stack.push([i.key, depth + 1]);
      if (i.value) stack.push([i.value, depth + 1]);
    }
  }
  return null;
}

/**
 * The validated job with its source. Added to the object rather than spread into a new one: V8
 * gives objects made by a spread that has seen many shapes a hidden class of their own (~500
 * bytes each, half of what 100,000 jobs took).
 */
function withSource(job: ValidatedJob, source: JobDefinition['source']): JobDefinition {
  const out = job as JobDefinition;
  out.source = source;
  // Most jobs keep the defaults: they share one frozen copy of each (~100 bytes a job).
  const { retries, retention } = out;
  if (
    retries.attempts === SHARED_RETRIES.attempts &&
    retries.backoff === SHARED_RETRIES.backoff &&
    retries.delayMs === SHARED_RETRIES.delayMs &&
    Object.keys(retries).length === 3
  ) {
    out.retries = SHARED_RETRIES;
  }
  if (
    retention.ageMs === SHARED_RETENTION.ageMs &&
    retention.count === SHARED_RETENTION.count &&
    Object.keys(retention).length === 2
  ) {
    out.retention = SHARED_RETENTION;
  }
  if (out.tags.length === 0) out.tags = SHARED_TAGS;
  const a = out.alerts;
  if (
    a.onFailure.length + a.onMissed.length + a.onStale.length + a.onRecovered.length === 0 &&
    Object.keys(a).length === 4
  ) {
    out.alerts = SHARED_NO_ALERTS;
  }
  const payload = out.payload;
  if (
    payload !== null &&
    typeof payload === 'object' &&
    Object.getPrototypeOf(payload) === Object.prototype &&
    Object.keys(payload).length === 0
  ) {
    out.payload = SHARED_PAYLOAD;
  }
  return out;
}

const SHARED_RETRIES: RetryPolicy = Object.freeze({ ...DEFAULT_RETRIES });
const SHARED_RETENTION: RetentionPolicy = Object.freeze({ ...DEFAULT_RETENTION });
const SHARED_TAGS = Object.freeze([]) as unknown as string[];
const SHARED_NO_ALERTS: AlertsPolicy = Object.freeze({
  onFailure: Object.freeze([]) as unknown as AlertsPolicy['onFailure'],
  onMissed: Object.freeze([]) as unknown as AlertsPolicy['onMissed'],
  onStale: Object.freeze([]) as unknown as AlertsPolicy['onStale'],
  onRecovered: Object.freeze([]) as unknown as AlertsPolicy['onRecovered'],
});
const SHARED_PAYLOAD = Object.freeze({});

/**
 * Parses and validates the text of one definitions file. Pure: `file` is only used to label
 * problems and `source.file`. Never throws; every problem found is returned.
 *
 * A file in the plain layout nearly every definitions file has is read by a fast reader
 * ({@link readFastYaml}); when that reader is not sure of the YAML, or the file has any problem,
 * the file is read again by {@link parseDefinitionsFilePrecise}, which tracks positions and words
 * every problem. The result is the same either way.
 */
export function parseDefinitionsFile(file: string, text: string): FileResult {
  return parseDefinitionsFileFast(file, text) ?? parseDefinitionsFilePrecise(file, text);
}

/**
 * The result of a good file read by the fast reader, or undefined when the reader is not sure
 * of the YAML or the file has any problem (then only the precise path can say what it is).
 */
export function parseDefinitionsFileFast(file: string, text: string): FileResult | undefined {
  if (text.length > MAX_FILE_BYTES || Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    return undefined;
  }
  const doc = readFastYaml(text);
  if (doc === undefined) return undefined;
  const root = doc.value;
  if (root === null || typeof root !== 'object' || Array.isArray(root)) return undefined;
  let entries: unknown[];
  let topLevel = false;
  if (Object.prototype.hasOwnProperty.call(root, 'jobs')) {
    const list = (root as { jobs: unknown }).jobs;
    if (Object.keys(root).length !== 1 || !Array.isArray(list)) return undefined;
    if (list.length === 0 || list.length > MAX_JOBS_PER_FILE) return undefined;
    entries = list;
  } else {
    entries = [root];
    topLevel = true;
  }
  const jobs: JobDefinition[] = [];
  const names: NameLocation[] = [];
  const seen = new Set<string>();
  for (const raw of entries) {
    if (raw === null || typeof raw !== 'object') return undefined;
    const at = doc.names.get(raw);
    if (at === undefined) return undefined;
    const result = validateJob(raw, { topLevel });
    if (!result.ok || seen.has(result.job.name)) return undefined;
    // Calendar references need their positions (the loader's "unknown calendar" problems).
    if (result.job.exclude?.some((e) => 'calendar' in e)) return undefined;
    // So do secret references (the replica's "cannot be read" warnings and delivery errors).
    if (hasSecretRefs(result.job.alerts)) return undefined;
    seen.add(result.job.name);
    names.push({ name: result.job.name, file, line: at.line, col: at.col });
    jobs.push(withSource(result.job, { file, line: at.line, col: at.col }));
  }
  return { file, jobs, problems: [], names };
}

/**
 * {@link parseDefinitionsFile} on `yaml`'s document, with positions: what every file with a
 * problem (or YAML the fast reader leaves alone) goes through.
 */
export function parseDefinitionsFilePrecise(file: string, text: string): FileResult {
  const lineCounter = new LineCounter();
  const problems: DefinitionProblem[] = [];
  const jobs: JobDefinition[] = [];
  const names: NameLocation[] = [];
  const calendars: CalendarDefinition[] = [];
  const calendarNames: NameLocation[] = [];
  const calendarRefs: CalendarRef[] = [];
  const at = (offset: number, message: string): void => {
    // Before the document is parsed the line counter knows no line: count them here.
    const { line, col } =
      lineCounter.lineStarts.length > 0 ? lineCounter.linePos(offset) : textPos(text, offset);
    problems.push({ file, line, col, message: capText(message, MAX_MESSAGE_LENGTH) });
  };
  let listed = 0;
  const done = (): FileResult => {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    if (problems.length > MAX_PROBLEMS_PER_FILE) {
      const rest = problems.length - MAX_PROBLEMS_PER_FILE;
      const last = problems[MAX_PROBLEMS_PER_FILE - 1]!;
      problems.length = MAX_PROBLEMS_PER_FILE;
      problems.push({
        ...last,
        message: `${rest} more problem(s) in this file not shown (fix the ones above first)`,
      });
    }
    // A file that yields fewer jobs than it lists always says why: jobs only go missing through
    // a problem of the file.
    if (problems.length === 0 && jobs.length < listed) {
      at(0, `${listed - jobs.length} of the ${listed} job(s) of this file were left out`);
    }
    return calendarNames.length > 0 || calendarRefs.length > 0 || calendars.length > 0
      ? { file, jobs, problems, names, calendars, calendarNames, calendarRefs }
      : { file, jobs, problems, names };
  };

  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    at(
      0,
      `file too large: ${bytes} bytes (at most ${MAX_FILE_BYTES} bytes, 1 MiB; split the jobs over several files)`,
    );
    return done();
  }
  // Lists and mappings nested deeper than the limit: one problem, before composing (which would
  // overflow the stack on a few hundred levels).
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const deep = tooDeep(tokens);
  if (deep !== null) {
    at(
      deep,
      `nested too deep: lists and mappings inside each other at most ${MAX_YAML_DEPTH} levels (payloads at most ${MAX_PAYLOAD_DEPTH})`,
    );
    return done();
  }

  let doc: Document.Parsed | undefined;
  try {
    // What yaml's parseDocument does, on the tokens already read (parsing is the costly part).
    const composer = new Composer({ uniqueKeys: true, logLevel: 'error' });
    for (const next of composer.compose(tokens, true, text.length)) {
      if (doc === undefined) {
        doc = next;
      } else {
        doc.errors.push(
          new YAMLParseError(
            [next.range[0], next.range[1]],
            'MULTIPLE_DOCS',
            'more than one document',
          ),
        );
        break;
      }
    }
    if (doc === undefined) throw new Error('no document');
  } catch (err) {
    at(0, `YAML error: ${err instanceof Error ? err.message : String(err)}`);
    return done();
  }
  for (const e of doc.errors) at(e.pos[0], yamlMessage(e, text));
  for (const w of doc.warnings) at(w.pos[0], yamlMessage(w, text));
  if (doc.errors.length > 0) return done();

  const root = doc.contents;
  if (root === null) {
    at(0, `empty file (${SHAPE_HINT})`);
    return done();
  }
  // Keys must be plain values: a list, mapping or alias as a key (`? [a, b]`) has no meaning in
  // a job and would be stringified.
  let complexKeys = false;
  visit(doc, {
    Pair(_key, pair) {
      const k = pair.key as MaybeNode;
      if (k === null || k === undefined || isScalar(k)) return;
      complexKeys = true;
      at(
        hasRange(k) ? k.range[0] : 0,
        isAlias(k)
          ? 'a key may not be an alias (*name): write the key itself'
          : `a key must be a plain value such as name or schedule, not a ${isCollection(k) && isSeq(k) ? 'list' : 'mapping'}`,
      );
    },
  });
  if (complexKeys) return done();
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    at(0, `YAML error: ${err instanceof Error ? err.message : String(err)}`);
    return done();
  }

  // The file's jobs (or calendars): [node, raw value, topLevel].
  const entries: [Node, unknown, boolean][] = [];
  const jobsPair = findPair(root, 'jobs');
  const calendarsPair = jobsPair === undefined ? findPair(root, 'calendars') : undefined;
  const listPair = jobsPair ?? calendarsPair;
  const listKey = jobsPair !== undefined ? 'jobs' : 'calendars';
  const kind =
    calendarsPair !== undefined ||
    (jobsPair === undefined && findPair(root, 'calendar') !== undefined)
      ? 'calendar'
      : 'job';
  let defaults: FileDefaults | undefined;
  let defaultsBroken = false;
  if (isMap(root) && listPair !== undefined) {
    // `defaults:` beside `jobs:` applies to every job of this file (docs/definitions.md).
    const defaultsPair = jobsPair !== undefined ? findPair(root, 'defaults') : undefined;
    if (defaultsPair !== undefined) {
      const node = (defaultsPair.value as MaybeNode) ?? (defaultsPair.key as MaybeNode);
      const rawDefaults = (data as { defaults?: unknown }).defaults;
      const checked = validateDefaults(rawDefaults);
      if (checked.ok) {
        defaults = checked.defaults;
        if (isMap(node))
          locateSecretRefs(node, rawDefaults, defaults.alerts, 'defaults.', file, lineCounter);
      } else {
        defaultsBroken = true;
        for (const issue of checked.issues)
          at(
            isMap(node)
              ? offsetOf(node, issue.path, issue.target)
              : hasRange(node)
                ? node.range[0]
                : 0,
            issue.message,
          );
      }
    }
    for (const pair of root.items) {
      if (pair === listPair || pair === defaultsPair) continue;
      const k = pair.key as MaybeNode;
      at(
        hasRange(k) ? k.range[0] : 0,
        `unknown key ${JSON.stringify(keyText(k) ?? '?')} beside ${listKey} (${listKey === 'jobs' ? SHAPE_HINT : 'a file holds one calendar (calendar: <name>, dates, holidays) or calendars: followed by a list of calendars'}, not both)`,
      );
    }
    const list = listPair.value as MaybeNode;
    const rawList = (data as Record<string, unknown>)[listKey];
    const noun = kind === 'job' ? 'jobs' : 'calendars';
    if (!isSeq(list) || !Array.isArray(rawList)) {
      const keyNode = listPair.key as MaybeNode;
      const node = hasRange(list) && !(isScalar(list) && list.value === null) ? list : keyNode;
      at(
        hasRange(node) ? node.range[0] : 0,
        `${listKey} must be a list of ${noun}, got ${describeValue(rawList)}`,
      );
    } else if (list.items.length > MAX_JOBS_PER_FILE) {
      at(
        hasRange(list) ? list.range[0] : 0,
        `too many ${noun} in one file: ${list.items.length} (at most ${MAX_JOBS_PER_FILE}; split them over several files)`,
      );
    } else if (list.items.length === 0) {
      const keyNode = listPair.key as MaybeNode;
      at(
        hasRange(keyNode) ? keyNode.range[0] : 0,
        `${listKey} is an empty list: this file defines no ${kind} (add one, or delete the file)`,
      );
    } else {
      list.items.forEach((item, i) => {
        entries.push([(item as Node | null) ?? list, rawList[i], false]);
      });
    }
  } else if (isMap(root)) {
    entries.push([root, data, true]);
  } else {
    at(hasRange(root) ? root.range[0] : 0, `${SHAPE_HINT}, got ${describeValue(data)}`);
    return done();
  }

  if (kind === 'calendar') {
    parseCalendars(entries, file, lineCounter, at, calendars, calendarNames, problems);
    return done();
  }

  listed = entries.length;
  const valid: [JobDefinition, NameLocation][] = [];
  for (const [node, raw, topLevel] of entries) {
    let nameLocation: NameLocation | undefined;
    const rawName = (raw as { name?: unknown } | null)?.name;
    if (typeof rawName === 'string' && NAME_PATTERN.test(rawName)) {
      // A job written as an alias (`- *job`) repeats the anchored job, name included: its name
      // is declared where the alias stands.
      const offset = isMap(node)
        ? offsetOf(node, ['name'], 'value')
        : hasRange(node)
          ? node.range[0]
          : 0;
      nameLocation = { name: rawName, file, ...lineCounter.linePos(offset) };
      names.push(nameLocation);
    }
    // A job of a file whose defaults are broken is not loaded without them.
    if (defaultsBroken) continue;
    const result = validateJob(raw, { topLevel, ...(defaults ? { defaults } : {}) });
    if (!result.ok) {
      for (const issue of result.issues)
        at(offsetOf(node, issue.path, issue.target), issue.message);
      continue;
    }
    const loc = nameLocation ?? { name: result.job.name, file, ...lineCounter.linePos(0) };
    valid.push([withSource(result.job, { file, line: loc.line, col: loc.col }), loc]);
    if (isMap(node)) locateSecretRefs(node, raw, result.job.alerts, '', file, lineCounter);
    // Where it names calendars, for the loader's "unknown calendar" problems.
    const rawExclude = (raw as { exclude?: unknown }).exclude;
    if (result.job.exclude !== undefined && Array.isArray(rawExclude) && isMap(node)) {
      rawExclude.forEach((e: unknown, i) => {
        const name = (e as { calendar?: unknown } | null)?.calendar;
        if (typeof name !== 'string') return;
        const pos = lineCounter.linePos(offsetOf(node, ['exclude', i, 'calendar'], 'value'));
        calendarRefs.push({ name, job: result.job.name, file, ...pos });
      });
    }
  }

  // Duplicate names inside the file: every occurrence is a problem and none of them is kept.
  const duplicated = new Set<string>();
  const byName = new Map<string, NameLocation[]>();
  for (const loc of names) {
    const list = byName.get(loc.name);
    if (list === undefined) byName.set(loc.name, [loc]);
    else list.push(loc);
  }
  for (const loc of names) {
    const same = byName.get(loc.name)!;
    if (same.length === 1) continue;
    duplicated.add(loc.name);
    problems.push({
      file,
      line: loc.line,
      col: loc.col,
      message: duplicateMessage(
        loc.name,
        same.slice(0, MAX_LISTED_LOCATIONS + 1).filter((o) => o !== loc),
        same.length - 1,
      ),
    });
  }
  for (const [job] of valid) if (!duplicated.has(job.name)) jobs.push(job);
  if (duplicated.size > 0) {
    const kept = calendarRefs.filter((r) => !duplicated.has(r.job));
    calendarRefs.length = 0;
    calendarRefs.push(...kept);
  }
  return done();
}

/** Validates calendar entries of a file (the counterpart of the job loop above). */
function parseCalendars(
  entries: [Node, unknown, boolean][],
  file: string,
  lineCounter: LineCounter,
  at: (offset: number, message: string) => void,
  calendars: CalendarDefinition[],
  calendarNames: NameLocation[],
  problems: DefinitionProblem[],
): void {
  const valid: CalendarDefinition[] = [];
  for (const [node, raw] of entries) {
    const rawName = (raw as { calendar?: unknown } | null)?.calendar;
    let loc: NameLocation | undefined;
    if (typeof rawName === 'string' && NAME_PATTERN.test(rawName)) {
      const offset = isMap(node)
        ? offsetOf(node, ['calendar'], 'value')
        : hasRange(node)
          ? node.range[0]
          : 0;
      loc = { name: rawName, file, ...lineCounter.linePos(offset) };
      calendarNames.push(loc);
    }
    const result = validateCalendar(raw);
    if (!result.ok) {
      for (const issue of result.issues)
        at(offsetOf(node, issue.path, issue.target), issue.message);
      continue;
    }
    const where = loc ?? { file, ...lineCounter.linePos(0) };
    valid.push({ ...result.calendar, source: { file, line: where.line, col: where.col } });
  }
  const seen = new Map<string, NameLocation[]>();
  for (const l of calendarNames) seen.set(l.name, [...(seen.get(l.name) ?? []), l]);
  for (const l of calendarNames) {
    const same = seen.get(l.name)!;
    if (same.length === 1) continue;
    problems.push({
      file,
      line: l.line,
      col: l.col,
      message: duplicateMessage(
        l.name,
        same.slice(0, MAX_LISTED_LOCATIONS + 1).filter((o) => o !== l),
        same.length - 1,
        'calendar',
      ),
    });
  }
  for (const c of valid) if (seen.get(c.name)!.length === 1) calendars.push(c);
}

/**
 * `duplicate job name "x" (also defined at other.yaml:3:7)`: `shown` are other declarations (at
 * most {@link MAX_LISTED_LOCATIONS} are listed), `total` how many other declarations there are
 * (`and N more` names the rest).
 */
export function duplicateMessage(
  name: string,
  shown: readonly NameLocation[],
  total: number,
  what: 'job' | 'calendar' = 'job',
): string {
  const listed = shown.slice(0, MAX_LISTED_LOCATIONS).map((o) => `${o.file}:${o.line}:${o.col}`);
  const more = total > listed.length ? ` and ${total - listed.length} more` : '';
  return `duplicate ${what} name ${JSON.stringify(name)} (also defined at ${listed.join(', ')}${more})`;
}
