import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { readFastYaml } from '../../../src/definitions/fast-yaml.js';
import {
  parseDefinitionsFile,
  parseDefinitionsFileFast,
  parseDefinitionsFilePrecise,
} from '../../../src/definitions/parse.js';
import { fuzzParams, fuzzTimeout, hostileString } from '../../helpers/fuzz.js';

// The fast reader answers only when sure; whenever it answers, its answer must be yaml's (the
// value, key order, and where each `name` value stands), and a file it reads must give exactly
// the result of the precise path.

/** yaml's reading of `text`, as the precise path does it, or undefined when yaml finds a problem. */
function yamlRead(
  text: string,
): { value: unknown; root: YamlNode | null; lc: LineCounter } | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, logLevel: 'silent', lineCounter: lc });
  if (doc.errors.length > 0 || doc.warnings.length > 0) return undefined;
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }), root: doc.contents as YamlNode | null, lc };
  } catch {
    return undefined; // an alias to no anchor
  }
}

/** Checks `names` positions of the fast reading against yaml's nodes, walking both trees. */
function checkNames(
  fast: unknown,
  node: unknown,
  names: Map<object, { line: number; col: number }>,
  lc: LineCounter,
): number {
  let checked = 0;
  if (isMap(node)) {
    const obj = fast as Record<string, unknown>;
    const namePair = node.items.find((p) => isScalar(p.key) && p.key.value === 'name');
    const range = (namePair?.value as { range?: [number, number] } | undefined)?.range;
    // An empty value (`name:`) has no position of its own.
    if (isScalar(namePair?.value) && range !== undefined && range[0] !== range[1]) {
      const at = lc.linePos(range[0]);
      expect(names.get(obj)).toEqual({ line: at.line, col: at.col });
      checked++;
    }
    for (const pair of node.items) {
      const key = String((pair.key as { value: unknown }).value);
      checked += checkNames(obj[key], pair.value, names, lc);
    }
  } else if (isSeq(node)) {
    const list = fast as unknown[];
    node.items.forEach((item, i) => {
      checked += checkNames(list[i], item, names, lc);
    });
  }
  return checked;
}

/** Documents the fast reader answered, and documents yaml reads without a problem. */
let answered = 0;
let tried = 0;

function agrees(text: string): void {
  const fast = readFastYaml(text);
  const precise = yamlRead(text);
  if (precise !== undefined) tried++;
  if (fast === undefined) return;
  answered++;
  expect(precise, 'the fast reader answered where yaml finds a problem').toBeDefined();
  // toEqual: toStrictEqual would compare the `constructor` keys YAML may define as types.
  expect(fast.value).toEqual(precise!.value);
  // Same key order (payloads reach handlers as written).
  expect(JSON.stringify(fast.value)).toBe(JSON.stringify(precise!.value));
  checkNames(fast.value, precise!.root, fast.names, precise!.lc);
}

// Scalars as written: plain words yaml reads as strings, numbers, nulls and booleans, and many
// that are not in the fast reader's subset (or not even valid YAML there).
const PLAIN = [
  'a',
  'x y',
  'f1-j0',
  '0 0 1 1 *',
  '*/5 * * * *',
  '~',
  'null',
  'Null',
  'NULL',
  'nUll',
  'true',
  'True',
  'TRUE',
  'tRue',
  'false',
  'yes',
  'no',
  'on',
  'off',
  '0',
  '-0',
  '+1',
  '007',
  '0o17',
  '0o8',
  '0x1F',
  '0xg',
  '1e3',
  '1E-2',
  '1.5',
  '.5',
  '5.',
  '1.50',
  '.inf',
  '-.Inf',
  '+.INF',
  '.nan',
  '.NaN',
  '1_000',
  '2001-12-14',
  '12:30',
  '1h30m',
  '30s',
  'a #b',
  'a#b',
  'a: b',
  'a:b',
  'a:',
  '-a',
  '-1',
  '- a',
  '--',
  '---',
  '...',
  '@daily',
  '*',
  'http://x.y/z?q=1',
  'é',
  'Ü ber',
  '😀',
  'a"b',
  "it's",
  '[a]',
  '{a}',
  'a]',
  'a, b',
  '!tag a',
  '&anc a',
  '*ali',
  '|',
  '>',
  '%x',
  '`x`',
  '?x',
  '? x',
  ':x',
  '#c',
  'a\tb',
  '\\n',
  '=',
  '(a)',
  '$x',
  '~x',
  '/p',
  '.a',
  '_a',
  '<<',
];
const KEYS = [
  'name',
  'schedule',
  'payload',
  'a',
  'b-c',
  'x.y',
  'x/y',
  '_k',
  '1',
  '1.5',
  'true',
  'null',
  '~',
  '__proto__',
  'constructor',
  'on',
  'Name',
  'a b',
  '"q"',
  "'s'",
  '"a:b"',
  '-k',
  '? k',
  'k ',
];

const dq = hostileString.filter((s) => s.length < 40).map((s) => JSON.stringify(s));
const sq = hostileString.filter((s) => s.length < 40).map((s) => `'${s.replace(/'/g, "''")}'`);
const scalar: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...PLAIN.slice(0, 12)) },
  { weight: 6, arbitrary: fc.constantFrom(...PLAIN) },
  { weight: 2, arbitrary: dq },
  { weight: 2, arbitrary: sq },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const key: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...KEYS.slice(0, 8)) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS) },
);
const sp = fc.constantFrom('', ' ', '  ');

/** A one-line flow collection. */
const flow: fc.Arbitrary<string> = fc.letrec<{ f: string }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'small' },
    fc
      .array(fc.tuple(sp, fc.oneof(scalar, tie('f')), sp), { maxLength: 4 })
      .chain((items) =>
        fc
          .constantFrom(',', ', ', ' ,', ',,')
          .map((sep) => `[${items.map(([a, v, b]) => `${a}${v}${b}`).join(sep)}]`),
      ),
    fc
      .array(fc.tuple(key, fc.constantFrom(': ', ':', ' : ', ':  '), fc.oneof(scalar, tie('f'))), {
        maxLength: 4,
      })
      .chain((pairs) =>
        fc
          .tuple(sp, fc.constantFrom(', ', ',', ' , ', ', ,'), sp)
          .map(([a, sep, b]) => `{${a}${pairs.map(([k, c, v]) => `${k}${c}${v}`).join(sep)}${b}}`),
      ),
  ),
})).f;

/** A block node, as lines relative to its indentation. */
type Block =
  | { kind: 'inline'; text: string }
  | { kind: 'map'; pairs: [string, Block][] }
  | { kind: 'seq'; items: Block[] };

const block: fc.Arbitrary<Block> = fc.letrec<{ b: Block }>((tie) => ({
  b: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .oneof({ weight: 4, arbitrary: scalar }, flow, fc.constant(''))
      .map((text) => ({ kind: 'inline' as const, text })),
    fc
      .array(fc.tuple(key, tie('b')), { minLength: 1, maxLength: 4 })
      .map((pairs) => ({ kind: 'map' as const, pairs })),
    fc
      .array(tie('b'), { minLength: 1, maxLength: 3 })
      .map((items) => ({ kind: 'seq' as const, items })),
  ),
})).b;

interface Style {
  step: number;
  sameIndentSeq: boolean;
  comment: boolean;
  trailing: string;
}

function renderValue(b: Block, indent: number, style: Style, lines: string[], head: string): void {
  const pad = ' '.repeat(indent);
  if (b.kind === 'inline') {
    lines.push(
      `${head}${b.text === '' ? '' : ` ${b.text}`}${style.comment ? ' # c' : ''}${style.trailing}`,
    );
    return;
  }
  lines.push(`${head}${style.comment ? ' # c' : ''}`);
  const inner = b.kind === 'seq' && style.sameIndentSeq ? indent : indent + style.step;
  renderBlock(b, inner, style, lines);
  void pad;
}

function renderBlock(b: Block, indent: number, style: Style, lines: string[]): void {
  const pad = ' '.repeat(indent);
  if (b.kind === 'inline') {
    lines.push(`${pad}${b.text}${style.trailing}`);
  } else if (b.kind === 'map') {
    for (const [k, v] of b.pairs) renderValue(v, indent, style, lines, `${pad}${k}:`);
  } else {
    for (const item of b.items) {
      if (item.kind === 'map') {
        // Compact: `- key: value`, the other keys under the first.
        const sub: string[] = [];
        renderBlock(item, indent + 2, style, sub);
        sub[0] = `${pad}- ${sub[0]!.slice(indent + 2)}`;
        lines.push(...sub);
      } else if (item.kind === 'inline') {
        lines.push(`${pad}-${item.text === '' ? '' : ` ${item.text}`}${style.trailing}`);
      } else {
        lines.push(`${pad}-`);
        renderBlock(item, indent + style.step, style, lines);
      }
    }
  }
}

const MUTATION_CHARS = [
  ' ',
  '-',
  ':',
  '#',
  '\t',
  '\r',
  '"',
  "'",
  '{',
  '}',
  '[',
  ']',
  ',',
  '\n',
  '&',
  '*',
  '!',
  '|',
  '>',
  '\u2028',
  '\ufeff',
];

const document: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .array(fc.tuple(key, block), { minLength: 1, maxLength: 5 })
          .map((pairs): Block => ({ kind: 'map', pairs })),
      },
      { weight: 1, arbitrary: block },
    ),
    fc.record({
      step: fc.constantFrom(2, 4, 1, 3),
      sameIndentSeq: fc.boolean(),
      comment: fc.boolean(),
      trailing: fc.constantFrom('', '', ' '),
    }),
    fc.constantFrom('\n', '\n', '\r\n'),
    fc.boolean(),
    fc.option(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...MUTATION_CHARS), fc.constant(''))), {
      freq: 4,
    }),
  )
  .map(([b, style, eol, blankLines, mutation]) => {
    const lines: string[] = [];
    renderBlock(b, 0, style, lines);
    let text = lines.join(blankLines ? `${eol}${eol}# note${eol}` : eol) + eol;
    if (mutation !== null) {
      const [at, ch] = mutation;
      const i = at % (text.length + 1);
      text =
        ch === '' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + ch + text.slice(i);
    }
    return text;
  });

describe('fast YAML reader', () => {
  it(
    'answers only where yaml reads the same value, key order and name positions',
    () => {
      answered = 0;
      tried = 0;
      fc.assert(fc.property(document, agrees), fuzzParams(1500));
      // The property must not hold trivially: a good share of the documents yaml reads are
      // answered (the others have scalars at the root, control characters, `? x`, ...).
      expect(answered / tried).toBeGreaterThan(0.25);
    },
    fuzzTimeout(1500, 20),
  );

  it.each([
    ['plain jobs list', 'jobs:\n  - name: a\n    schedule: "0 0 1 1 *"\n    catchUp: none\n'],
    ['list at the key column', 'jobs:\n- name: a\n  schedule: "@daily"\n'],
    [
      'one job, payload and tags',
      "name: a # the job\nschedule: '*/5 * * * *'\npayload: { mode: full, n: [1, 2.5, null, true] }\ntags:\n  - x\n  - 'y z'\n",
    ],
    [
      'nested payload',
      'name: a\nschedule: "@daily"\npayload:\n  a:\n    b: [x, {c: d}]\n  e: 1\nretries: { attempts: 3, delay: 5s }\n',
    ],
    ['CRLF', 'jobs:\r\n  - name: a\r\n    schedule: "@daily"\r\n'],
  ])('reads a %s as yaml does', (_label, text) => {
    expect(readFastYaml(text)).toBeDefined();
    agrees(text);
  });

  it.each([
    ['an anchor', 'a: &x 1\nb: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a block scalar', 'a: |\n  x\n'],
    ['a continued plain scalar', 'a: b\n  c\n'],
    ['a tab', 'a:\tb\n'],
    ['a document marker', '---\na: 1\n'],
    ['an escape', 'a: "\\n"\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a multi-line flow', 'a: [1,\n  2]\n'],
    ['a quoted key', '"a": 1\n'],
    ['an empty file', ''],
  ])('leaves %s to yaml', (_label, text) => {
    expect(readFastYaml(text)).toBeUndefined();
  });
});

// A definitions file: jobs with valid and invalid values, in block and flow style.
const jobValue: Record<string, fc.Arbitrary<string>> = {
  name: fc.constantFrom('a', 'b', 'c', 'd-1', 'Bad', '"a"', "'b'", 'a b', ''),
  schedule: fc.constantFrom(
    '"0 0 1 1 *"',
    "'*/5 * * * *'",
    '"@daily"',
    '@daily',
    '"61 * * * *"',
    '"* * *"',
    '5',
    '',
  ),
  timezone: fc.constantFrom('UTC', 'Europe/London', 'Mars/Base', '1'),
  catchUp: fc.constantFrom('none', 'latest', 'all', 'some'),
  catchUpLimit: fc.constantFrom('1', '100', '0', '-1', '1.5', 'x'),
  jitter: fc.constantFrom('0', '30s', '1h30m', 'soon', '-1'),
  timeout: fc.constantFrom('null', '5m', '0', 'x'),
  retries: fc.constantFrom('3', '0', '{ attempts: 2, backoff: fixed, delay: 1s }', '{ tries: 2 }'),
  retention: fc.constantFrom('30d', '{ age: 1d, count: 5 }', '0', '{ count: 0 }'),
  payload: fc.oneof(flow, fc.constantFrom('{ mode: full }', '[1, 2]', 'x', '.nan')),
  paused: fc.constantFrom('true', 'false', 'yes'),
  tags: fc.constantFrom('[a, b]', '[]', '[""]', 'x'),
  description: fc.oneof(scalar, fc.constant('null')),
  overlap: fc.constantFrom('allow', 'forbid', 'nope'),
  nmae: fc.constant('x'),
};

const jobText: fc.Arbitrary<{ lines: string[]; flow: string }> = fc
  .tuple(
    jobValue.name!,
    fc.boolean(),
    fc.subarray(
      Object.keys(jobValue).filter((k) => k !== 'name' && k !== 'schedule'),
      {
        maxLength: 5,
      },
    ),
  )
  .chain(([name, withSchedule, keys]) =>
    fc
      .tuple(
        withSchedule ? jobValue.schedule! : fc.constant(null),
        fc.tuple(...keys.map((k) => jobValue[k]!)),
      )
      .map(([schedule, values]) => {
        const pairs: [string, string][] = [['name', name]];
        if (schedule !== null) pairs.push(['schedule', schedule]);
        keys.forEach((k, i) => pairs.push([k, values[i]!]));
        return {
          lines: pairs.map(([k, v]) => `${k}:${v === '' ? '' : ` ${v}`}`),
          flow: `{ ${pairs.map(([k, v]) => `${k}: ${v}`).join(', ')} }`,
        };
      }),
  );

const definitionsFile: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.array(fc.tuple(jobText, fc.boolean()), { maxLength: 5 }), fc.constantFrom(0, 2)).map(
    ([jobs, indent]) =>
      `jobs:\n${jobs
        .map(([j, asFlow]) => {
          const pad = ' '.repeat(indent);
          if (asFlow) return `${pad}- ${j.flow}\n`;
          return j.lines.map((l, i) => `${pad}${i === 0 ? '- ' : '  '}${l}\n`).join('');
        })
        .join('')}`,
  ),
  jobText.map((j) => `${j.lines.join('\n')}\n`),
  fc
    .tuple(jobText, fc.constantFrom('other: 1\n', 'jobs: []\n', '---\n'))
    .map(([j, extra]) => `${j.lines.join('\n')}\n${extra}`),
);

describe('fast definitions path', () => {
  it(
    'gives exactly the precise result for every file it reads, and reads the good ones',
    () => {
      let fast = 0;
      let good = 0;
      fc.assert(
        fc.property(definitionsFile, (text) => {
          const precise = parseDefinitionsFilePrecise('jobs/x.yaml', text);
          const quick = parseDefinitionsFileFast('jobs/x.yaml', text);
          if (precise.problems.length === 0) good++;
          if (quick !== undefined) {
            fast++;
            expect(quick).toEqual(precise);
            expect(JSON.stringify(quick)).toBe(JSON.stringify(precise));
          }
          expect(parseDefinitionsFile('jobs/x.yaml', text)).toEqual(precise);
        }),
        fuzzParams(600),
      );
      // Nearly every good file generated here is in the fast reader's subset (not those with
      // payloads such as `[? x]`).
      expect(good).toBeGreaterThan(0);
      expect(fast).toBeGreaterThan(good * 0.8);
    },
    fuzzTimeout(600, 50),
  );
});
