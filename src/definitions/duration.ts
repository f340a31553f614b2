import { BatonError } from '../errors.js';

/**
 * Durations in job definitions (and wherever else a human writes one) are strings of one or more
 * `<integer><unit>` parts with the units `ms`, `s`, `m`, `h`, `d`: `500ms`, `30s`, `5m`, `1h`,
 * `7d`, `1h30m`. The only bare number accepted is `0` (also as the string `"0"`): a plain number is
 * ambiguous (seconds? milliseconds?) so it is refused instead of guessed.
 */
export const DURATION_HINT = 'use a number with a unit: 500ms, 30s, 5m, 1h, 7d';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

const WHOLE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

/** A duration was written in a form {@link parseDuration} does not accept. */
export class DurationError extends BatonError {
  constructor(message: string) {
    super('INVALID_DURATION', message);
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Parses a duration into milliseconds. Accepts `0`, `"0"` and strings such as `500ms`, `30s`,
 * `5m`, `1h`, `7d`, `1h30m` (integers only, no spaces, each unit at most once).
 *
 * @param what names the setting in the error message, e.g. `jitter` ->
 *   `bad duration "5 minutes" for jitter (use a number with a unit: 500ms, 30s, 5m, 1h, 7d)`.
 * @throws DurationError
 */
export function parseDuration(text: string | number, what?: string): number {
  const fail = (): never => {
    throw new DurationError(
      `bad duration ${show(text)}${what === undefined ? '' : ` for ${what}`} (${DURATION_HINT})`,
    );
  };
  if (typeof text === 'number') {
    return text === 0 ? 0 : fail();
  }
  if (typeof text !== 'string') return fail();
  if (text === '0') return 0;
  if (!WHOLE.test(text)) return fail();
  let total = 0;
  const seen = new Set<string>();
  for (const match of text.matchAll(PART)) {
    const unit = match[2] as Unit;
    if (seen.has(unit)) fail();
    seen.add(unit);
    total += Number(match[1]) * UNIT_MS[unit];
  }
  if (!Number.isSafeInteger(total)) fail();
  return total;
}

/**
 * Formats milliseconds as the shortest exact duration string {@link parseDuration} reads back:
 * `0`, `500ms`, `30s`, `1h30m`, `7d`, `1m500ms`. Fractions of a millisecond are rounded;
 * negative values get a leading `-` (which parseDuration does not accept).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let rest = Math.round(Math.abs(ms));
  if (rest === 0) return '0';
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return ms < 0 ? `-${out}` : out;
}
