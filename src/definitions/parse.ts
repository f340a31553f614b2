import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import type { DefinitionProblem } from '../errors.js';
import { NAME_PATTERN, describeValue, validateJob, type JobIssue } from './schema.js';
import type { JobDefinition } from './types.js';

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
}

type Segment = string | number;
type MaybeNode = Node | Pair['key'] | null | undefined;

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

function yamlMessage(error: YAMLError, text: string): string {
  if (error.code === 'DUPLICATE_KEY') {
    const key = /^\s*("[^"\n]*"|'[^'\n]*'|[^:#\n]*?)\s*:/.exec(text.slice(error.pos[0]))?.[1];
    return `duplicate key${key ? ` ${JSON.stringify(key.replace(/^["']|["']$/g, ''))}` : ''} (a key may appear only once in a mapping)`;
  }
  if (error.code === 'MULTIPLE_DOCS') {
    return `YAML error: more than one document (---) in the file (${SHAPE_HINT})`;
  }
  return `YAML error: ${error.message}`;
}

/**
 * Parses and validates the text of one definitions file. Pure: `file` is only used to label
 * problems and `source.file`. Never throws; every problem found is returned.
 */
export function parseDefinitionsFile(file: string, text: string): FileResult {
  const lineCounter = new LineCounter();
  const problems: DefinitionProblem[] = [];
  const jobs: JobDefinition[] = [];
  const names: NameLocation[] = [];
  const at = (offset: number, message: string): void => {
    const { line, col } = lineCounter.linePos(offset);
    problems.push({ file, line, col, message });
  };
  const done = (): FileResult => {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    return { file, jobs, problems, names };
  };

  let doc;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
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
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    at(0, `YAML error: ${err instanceof Error ? err.message : String(err)}`);
    return done();
  }

  // The file's jobs: [node, raw value, topLevel].
  const entries: [Node, unknown, boolean][] = [];
  const jobsPair = findPair(root, 'jobs');
  if (isMap(root) && jobsPair !== undefined) {
    for (const pair of root.items) {
      if (pair === jobsPair) continue;
      const k = pair.key as MaybeNode;
      at(
        hasRange(k) ? k.range[0] : 0,
        `unknown key ${JSON.stringify(keyText(k) ?? '?')} beside jobs (${SHAPE_HINT}, not both)`,
      );
    }
    const list = jobsPair.value as MaybeNode;
    const rawList = (data as { jobs?: unknown }).jobs;
    if (!isSeq(list) || !Array.isArray(rawList)) {
      const keyNode = jobsPair.key as MaybeNode;
      const node = hasRange(list) && !(isScalar(list) && list.value === null) ? list : keyNode;
      at(
        hasRange(node) ? node.range[0] : 0,
        `jobs must be a list of jobs, got ${describeValue(rawList)}`,
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

  const valid: [JobDefinition, NameLocation][] = [];
  for (const [node, raw, topLevel] of entries) {
    let nameLocation: NameLocation | undefined;
    const rawName = (raw as { name?: unknown } | null)?.name;
    if (typeof rawName === 'string' && NAME_PATTERN.test(rawName) && isMap(node)) {
      const offset = offsetOf(node, ['name'], 'value');
      nameLocation = { name: rawName, file, ...lineCounter.linePos(offset) };
      names.push(nameLocation);
    }
    const result = validateJob(raw, { topLevel });
    if (!result.ok) {
      for (const issue of result.issues)
        at(offsetOf(node, issue.path, issue.target), issue.message);
      continue;
    }
    const loc = nameLocation ?? { name: result.job.name, file, ...lineCounter.linePos(0) };
    valid.push([{ ...result.job, source: { file, line: loc.line, col: loc.col } }, loc]);
  }

  // Duplicate names inside the file: every occurrence is a problem and none of them is kept.
  const duplicated = new Set<string>();
  const byName = new Map<string, NameLocation[]>();
  for (const loc of names) byName.set(loc.name, [...(byName.get(loc.name) ?? []), loc]);
  for (const loc of names) {
    const same = byName.get(loc.name)!;
    if (same.length === 1) continue;
    const others = same.filter((o) => o !== loc);
    duplicated.add(loc.name);
    problems.push({
      file,
      line: loc.line,
      col: loc.col,
      message: duplicateMessage(loc.name, others),
    });
  }
  for (const [job] of valid) if (!duplicated.has(job.name)) jobs.push(job);
  return done();
}

/** `duplicate job name "x" (also defined at other.yaml:3:7)` */
export function duplicateMessage(name: string, others: readonly NameLocation[]): string {
  return `duplicate job name ${JSON.stringify(name)} (also defined at ${others.map((o) => `${o.file}:${o.line}:${o.col}`).join(', ')})`;
}
