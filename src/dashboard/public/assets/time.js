// Durations and instants in words, in the job's zone or the browser's.

import { h } from './dom.js';

/**
 * A run's duration: `312 ms`, `4.2 s`, `3 min 5 s`.
 * @param {number} ms
 */
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return span(ms);
}

/**
 * A span in whole units: `42 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
 * @param {number} ms
 */
export function span(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const m = Math.round(s / 60);
  if (m < 1440) return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
  const hours = Math.round(m / 60);
  return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${hours / 24} d`;
}

/**
 * A heartbeat's age: `just now`, `3 s ago`.
 * @param {number} ageMs
 */
export function since(ageMs) {
  return ageMs < 1000 ? 'just now' : `${span(ageMs)} ago`;
}

/**
 * @param {number} diffMs
 * @param {boolean} future
 */
export function relative(diffMs, future) {
  if (future && diffMs <= 0) return 'due';
  if (Math.abs(diffMs) < 1000) return 'now';
  return diffMs > 0 ? `in ${span(diffMs)}` : `${span(diffMs)} ago`;
}

/**
 * Intl.DateTimeFormat objects by kind and zone, made once each (a private cache: nothing else
 * reads or writes it).
 * @type {Map<string, Intl.DateTimeFormat>}
 */
const formatters = new Map();

/**
 * An Intl.DateTimeFormat for `zone` (the browser's when absent or unknown).
 * @param {string} name
 * @param {Intl.DateTimeFormatOptions} options
 * @param {string} [zone]
 */
function formatter(name, options, zone) {
  const key = `${name}:${zone ?? ''}`;
  let f = formatters.get(key);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(undefined, { ...options, timeZone: zone || undefined });
    } catch {
      f = new Intl.DateTimeFormat(undefined, options);
    }
    formatters.set(key, f);
  }
  return f;
}

/** @type {Intl.DateTimeFormatOptions} */
const TIME = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' };
/** @type {Intl.DateTimeFormatOptions} */
const DATE = { weekday: 'short', month: 'short', day: 'numeric' };

/**
 * An instant in the given zone (the job's), e.g. `Mon, Jun 9, 09:30 GMT+2`; seconds are shown
 * unless the instant is on a whole minute.
 * @param {string | number} iso
 * @param {string} [zone]
 */
export function absolute(iso, zone) {
  const date = new Date(iso);
  return date.getTime() % 60_000 === 0
    ? formatter('minute', { ...DATE, ...TIME }, zone).format(date)
    : formatter('second', { ...DATE, ...TIME, second: '2-digit' }, zone).format(date);
}

/**
 * `10:43:16` in the browser's zone (the feed).
 * @param {Date} date
 */
export function clock(date) {
  return formatter('clock', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(date);
}

/**
 * `10:43:16 UTC` in the given zone.
 * @param {string | number} iso
 * @param {string} [zone]
 */
export function timeOfDay(iso, zone) {
  return formatter('time', { ...TIME, second: '2-digit' }, zone).format(new Date(iso));
}

/**
 * The scheduled instant (ISO) of a scheduled fire id `<job>@<epochMs>`; null for a manual one.
 * @param {string | null | undefined} fireId
 */
export function scheduledOf(fireId) {
  const match = /@(\d+)$/.exec(fireId ?? '');
  return match ? new Date(Number(match[1])).toISOString() : null;
}

/**
 * A `<time>` whose text the ticker keeps relative ("in 3 s", "5 min ago").
 * @param {string} iso
 * @param {{ future?: boolean; zone?: string }} [options]
 */
export function timeEl(iso, { future = false, zone } = {}) {
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return h('span', { text: '—' });
  return h('time', {
    class: 'rel',
    datetime: iso,
    'data-at': at,
    'data-future': future ? '1' : null,
    title: `${absolute(iso, zone)} · your time ${absolute(iso)}`,
    text: relative(at - Date.now(), future),
  });
}
