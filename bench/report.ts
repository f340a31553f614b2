/** Summaries of the side-by-side scenarios: per-side spreads, ratios of the same round, Markdown. */
import { round, spread, type Spread } from './lib.js';
import type { FigureSpec, ScenarioRun, SideRound } from './compare.js';

export interface Row extends FigureSpec {
  /** Spread over the rounds, per side ("floor" for one-sided figures). */
  sides: Record<string, Spread>;
  /** baton / BullMQ of the same round: min, median, max; null when BullMQ's figure is 0. */
  ratio: Spread | null;
  /** baton / plain BullMQ worker on baton's queue, same round (when that side ran). */
  plainRatio: Spread | null;
  /** Which side is better on the medians ('tie' within 5 %); null for one-sided figures. */
  better_side: 'baton' | 'BullMQ' | 'tie' | null;
}

export interface Summary {
  id: string;
  group: string;
  title: string;
  setup: string;
  rows: Row[];
  rounds: SideRound[];
}

function ratios(rounds: SideRound[], key: string, over: string): Spread | null {
  const out: number[] = [];
  for (const r of rounds.filter((x) => x.side === 'baton')) {
    const other = rounds.find((x) => x.side === over && x.round === r.round);
    const a = r.figures[key];
    const b = other?.figures[key];
    if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
      continue;
    out.push(a / b);
  }
  return out.length === 0 ? null : spread(out);
}

export function summarise(run: ScenarioRun): Summary {
  const sideNames = [...new Set(run.rounds.map((r) => r.side))];
  const rows: Row[] = [];
  for (const fig of run.figures) {
    const sides: Record<string, Spread> = {};
    for (const side of sideNames) {
      const values = run.rounds
        .filter((r) => r.side === side && fig.key in r.figures)
        .map((r) => r.figures[fig.key]!);
      if (values.length > 0) sides[side] = spread(values);
    }
    if (Object.keys(sides).length === 0) continue; // e.g. no scheduler process on this side
    let better: Row['better_side'] = null;
    const a = sides.baton?.median;
    const b = sides.bullmq?.median;
    if (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b)) {
      if (Math.abs(a - b) <= 0.05 * Math.max(Math.abs(a), Math.abs(b))) better = 'tie';
      else better = a < b === (fig.better === 'lower') ? 'baton' : 'BullMQ';
    }
    rows.push({
      ...fig,
      sides,
      ratio: sides.bullmq && !fig.signed ? ratios(run.rounds, fig.key, 'bullmq') : null,
      plainRatio: sides['baton-plain'] ? ratios(run.rounds, fig.key, 'baton-plain') : null,
      better_side: better,
    });
  }
  return { ...run, rows };
}

function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  const r = a >= 100 ? round(x, 0) : a >= 10 ? round(x, 1) : a >= 1 ? round(x, 2) : round(x, 3);
  return r.toLocaleString('en', { maximumFractionDigits: 3 });
}

function cell(s: Spread | undefined | null, unit = ''): string {
  if (!s) return '—';
  if (!Number.isFinite(s.median)) return 'none ran';
  const u = unit ? ` ${unit}` : '';
  return s.min === s.max
    ? `${num(s.median)}${u}`
    : `${num(s.median)}${u} (${num(s.min)} – ${num(s.max)})`;
}

function ratioCell(s: Spread | null): string {
  if (!s) return '—';
  return s.min === s.max
    ? `${num(s.median)}×`
    : `${num(s.median)}× (${num(s.min)} – ${num(s.max)})`;
}

export function markdown(summaries: Summary[], header: string[]): string {
  const out = [...header, ''];
  for (const s of summaries) {
    out.push(`### ${s.title}`, '', s.setup, '');
    const sides = new Set(s.rounds.map((r) => r.side));
    if (sides.has('floor')) {
      out.push('| figure | median (min – max) |', '| --- | --- |');
      for (const r of s.rows) out.push(`| ${r.label} | ${cell(r.sides.floor, r.unit)} |`);
    } else {
      const plain = sides.has('baton-plain');
      out.push(
        `| figure | baton | BullMQ | baton / BullMQ | better${plain ? ' | baton worker with a plain BullMQ worker instead | baton / plain' : ''} |`,
        `| --- | --- | --- | --- | ---${plain ? ' | --- | ---' : ''} |`,
      );
      for (const r of s.rows) {
        const extra = plain
          ? ` | ${cell(r.sides['baton-plain'], r.unit)} | ${ratioCell(r.plainRatio)}`
          : '';
        out.push(
          `| ${r.label} | ${cell(r.sides.baton, r.unit)} | ${cell(r.sides.bullmq, r.unit)} | ${ratioCell(r.ratio)} | ${r.better_side ?? '—'}${extra} |`,
        );
      }
    }
    out.push('');
  }
  return out.join('\n');
}
