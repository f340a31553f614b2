/**
 * `node --import tsx bench/render.ts <results.json>`: rewrites the Markdown next to a results
 * file from its rounds, with the current summary rules and labels (after a change of
 * bench/report.ts; the figures themselves are not touched).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { LAG_FIGURES, type FigureSpec, type ScenarioRun } from './compare.js';
import { markdown, summarise, type Summary } from './report.js';

const file = process.argv[2];
if (!file?.endsWith('.json')) throw new Error('usage: bench/render.ts <results.json>');
const json = JSON.parse(readFileSync(file, 'utf8')) as {
  date: string;
  quick: boolean;
  durationS: number;
  redis: { appendfsync: string; hz: number };
  config: { rounds: number };
  machine: {
    cores: number;
    cpu: string;
    memGiB: number;
    loadavgStart: number[];
    loadavgEnd: number[];
    shared: string;
  };
  versions: Record<string, string>;
  failures?: { scenario: string; error: string }[];
  scenarios: Summary[];
};
const labels = new Map(LAG_FIGURES.map((f) => [f.key, f.label]));
const summaries = json.scenarios.map((s) => {
  const run: ScenarioRun = {
    id: s.id,
    group: s.group,
    title: s.title,
    setup: s.setup,
    figures: s.rows.map((r): FigureSpec => ({
      key: r.key,
      label: s.group === 'every-second' ? (labels.get(r.key) ?? r.label) : r.label,
      unit: r.unit,
      better: r.better,
      ...(r.signed ? { signed: true } : {}),
    })),
    // JSON turned NaN (nothing ran) into null.
    rounds: s.rounds.map((r) => ({
      ...r,
      figures: Object.fromEntries(Object.entries(r.figures).map(([k, v]) => [k, v ?? NaN])),
    })),
  };
  return summarise(run);
});
const m = json.machine;
const v = json.versions;
const header = [
  `## baton vs BullMQ job schedulers — ${json.date}${json.quick ? ' (quick)' : ''}`,
  '',
  `${m.cores} cores (${m.cpu}), ${m.memGiB} GiB; load average ${m.loadavgStart.join(' ')} at start, ${m.loadavgEnd.join(' ')} at the end: ${m.shared}.`,
  `Node ${v.node}, Redis ${v.redis} (AOF on, appendfsync ${json.redis.appendfsync}, hz ${json.redis.hz} but where a scenario sets it), BullMQ ${v.bullmq}, ${v.etcd}, baton ${v.baton}. ${json.config.rounds} round(s), sides alternating (baton, BullMQ, ...); ${json.durationS} s in all.`,
  'Cells: median (min – max) over the rounds; ratios are baton / BullMQ of the same round. Lag: scheduled instant -> handler start, as each handler saw it. CPU: /proc of each process, Redis from INFO cpu. "none ran": no run of the window\'s instants started within the grace period in any round.',
  ...(json.failures ?? []).map((f) => `\n**${f.scenario} failed**: ${f.error}`),
];
writeFileSync(file, `${JSON.stringify({ ...json, scenarios: summaries }, null, 2)}\n`);
writeFileSync(file.replace(/\.json$/, '.md'), `${markdown(summaries, header)}\n`);
console.log(`rewrote ${file} and its .md`);
