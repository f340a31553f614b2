// Resolution of jobs' calendar references against the calendars in effect.

import type { DefinitionProblem } from '../errors.js';
import type { FileResult } from './parse.js';
import { didYouMean } from './suggest.js';
import type { CalendarDefinition, JobDefinition } from './types.js';

const resolved = new WeakMap<FileResult, { deps: CalendarDefinition[]; result: FileResult }>();

/**
 * The file with its jobs' calendar references filled in from `known` (the calendars in effect),
 * or with a problem at every reference that names no calendar in effect (then the file counts as
 * bad and keeps its last good jobs). The same file resolved against the same calendars gives the
 * very same result object, so an unchanged file stays unchanged.
 *
 * @param declared calendar names declared in the folder but not in effect -> their file
 */
export function resolveCalendarRefs(
  f: FileResult,
  known: ReadonlyMap<string, CalendarDefinition>,
  declared: ReadonlyMap<string, string>,
): FileResult {
  const refs = f.calendarRefs ?? [];
  if (refs.length === 0) return f;
  const deps = refs.map((r) => known.get(r.name));
  const memo = resolved.get(f);
  if (memo && memo.deps.length === deps.length && memo.deps.every((d, i) => d === deps[i])) {
    return memo.result;
  }
  const problems: DefinitionProblem[] = [];
  refs.forEach((ref, i) => {
    if (deps[i] !== undefined) return;
    const where = declared.get(ref.name);
    const names = [...known.keys()].sort();
    const guess = didYouMean(ref.name, names);
    const message =
      where !== undefined
        ? `calendar ${JSON.stringify(ref.name)} is not in effect: see the problems reported for ${where}`
        : `unknown calendar ${JSON.stringify(ref.name)} (${guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `}${names.length === 0 ? 'no calendar is defined in the folder' : `calendars: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`}; a calendar is a file in the jobs folder with calendar: <name>)`;
    problems.push({ file: ref.file, line: ref.line, col: ref.col, message });
  });
  let result: FileResult;
  if (problems.length > 0) {
    result = {
      ...f,
      problems: [...f.problems, ...problems].sort((a, b) => a.line - b.line || a.col - b.col),
    };
  } else {
    const jobs: JobDefinition[] = f.jobs.map((job) =>
      job.exclude?.some((e) => 'calendar' in e)
        ? {
            ...job,
            exclude: job.exclude.map((e) =>
              'calendar' in e ? { calendar: known.get(e.calendar.name)!.content } : e,
            ),
          }
        : job,
    );
    result = { ...f, jobs };
  }
  resolved.set(f, { deps: deps as CalendarDefinition[], result });
  return result;
}
