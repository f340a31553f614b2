// An open job's run duration and start lag over time (uPlot, served from this origin).

/**
 * @import { HistoryEntry } from '../../../api/types.js'
 * @import { Chart } from './types.js'
 */

import uPlot from './uplot.esm.js';
import { h, setText } from './dom.js';
import { duration } from './time.js';
import { startLag } from './timeline.js';

const HEIGHT = 170;

/**
 * The series: x = scheduled instant (s), duration (ms) of ended runs, start lag (ms).
 * @param {HistoryEntry[]} entries
 * @returns {[number[], (number | null)[], (number | null)[]]}
 */
export function chartData(entries) {
  const runs = entries
    .filter((e) => e.kind === 'run')
    .map((e) => ({
      x: Date.parse(e.scheduledAt || e.startedAt) / 1000,
      duration: typeof e.durationMs === 'number' ? e.durationMs : null,
      lag: startLag(e),
    }))
    .filter((p) => Number.isFinite(p.x))
    .sort((a, b) => a.x - b.x);
  return [runs.map((p) => p.x), runs.map((p) => p.duration), runs.map((p) => p.lag)];
}

/**
 * @param {(number | null)[]} values
 */
function stats(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return 'none';
  const median = v[Math.floor((v.length - 1) / 2)] ?? 0;
  const max = v[v.length - 1] ?? 0;
  /** @param {number} ms */
  const fmt = (ms) => `${ms < 0 ? '-' : ''}${duration(Math.abs(ms))}`;
  return `median ${fmt(median)}, max ${fmt(max)}`;
}

/**
 * A chart of the runs' duration and start lag; `set` redraws it with new entries.
 * @param {string} name the job
 * @returns {Chart}
 */
export function createChart(name) {
  const plotBox = h('div', { class: 'chart-plot', 'aria-hidden': 'true' });
  const summary = h('p', { class: 'chart-summary' });
  const el = h(
    'figure',
    { class: 'chart', 'data-testid': `job-${name}-chart` },
    plotBox,
    h('figcaption', {}, summary),
  );
  /** @type {uPlot | null} */
  let plot = null;
  const width = () => Math.max(200, Math.floor(plotBox.clientWidth || el.clientWidth || 300));
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => {
      if (plot && Math.abs(plot.width - width()) > 2)
        plot.setSize({ width: width(), height: HEIGHT });
    }).observe(plotBox);
  }
  return {
    el,
    set(entries) {
      const data = chartData(entries);
      el.dataset.points = String(data[0].length);
      setText(
        summary,
        `Run duration (${stats(data[1])}) and start lag, scheduled instant to start on a worker (${stats(data[2])}), of the ${data[0].length} runs shown.`,
      );
      if (plot) {
        plot.setData(data);
        return;
      }
      plot = new uPlot(
        {
          width: width(),
          height: HEIGHT,
          legend: { show: true, live: false },
          cursor: { drag: { x: false, y: false } },
          // The runs' own span; one run (or runs of one instant): a minute either side, not
          // the day uPlot would add (1,000 days with timestamps in seconds).
          scales: {
            x: {
              time: true,
              range: (u, min, max) => {
                const xs = u.data[0];
                const lo = xs[0] ?? min;
                const hi = xs[xs.length - 1] ?? max;
                return hi - lo < 60 ? [lo - 60, hi + 60] : [lo, hi];
              },
            },
          },
          axes: [{}, { scale: 'ms', label: 'ms', size: 50 }],
          series: [
            {},
            {
              label: 'duration',
              scale: 'ms',
              stroke: '#2563eb',
              width: 1.5,
              points: { show: true, size: 4 },
            },
            {
              label: 'start lag',
              scale: 'ms',
              stroke: '#d97706',
              width: 1.5,
              points: { show: true, size: 4 },
            },
          ],
        },
        data,
        plotBox,
      );
    },
  };
}
