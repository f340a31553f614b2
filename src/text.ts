// Bounded, printable text for messages that echo input (definitions, HTTP, CLI): an attacker's
// value never reaches a terminal or a log line whole, nor with raw control characters in it.

/** Control characters (C0, DEL, C1) and the Unicode line/paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Replaces every control character with its `\uXXXX` escape (so `\r` cannot rewrite a line). */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** At most `max` characters of `text` (default 500), control characters escaped, `…` when cut. */
export function capText(text: string, max = 500): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return printable(cut);
}

/**
 * A short quoted excerpt of an input value for a message: JSON-quoted (so control characters are
 * escaped), at most `max` characters of the value (default 40), then `…(N characters)` when cut.
 */
export function excerpt(value: string, max = 40): string {
  if (value.length <= max) return printable(JSON.stringify(value));
  return `${printable(JSON.stringify(value.slice(0, max)))}…(${value.length} characters)`;
}
