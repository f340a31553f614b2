import { describe, expect, it } from 'vitest';
import { definitionsHash, parseDefinitionsFile } from '../../../src/definitions/index.js';

const jobsOf = (file: string, text: string) => {
  const result = parseDefinitionsFile(file, text);
  expect(result.problems).toEqual([]);
  return result.jobs;
};

describe('definitionsHash', () => {
  const a = jobsOf('a.yaml', 'name: a\nschedule: "@hourly"\npayload: { x: 1, y: [1, 2] }\n');
  const b = jobsOf('b.yaml', 'name: b\nschedule: "@daily"\n');

  it('is a sha256 hex digest', () => {
    expect(definitionsHash([...a, ...b])).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores the order of jobs, of keys and where the jobs were defined', () => {
    const moved = jobsOf(
      'elsewhere.yaml',
      '# moved\n\njobs:\n  - payload: { y: [1, 2], x: 1 }\n    schedule: "@hourly"\n    name: a\n',
    );
    expect(definitionsHash([...b, ...moved])).toBe(definitionsHash([...a, ...b]));
  });

  it('changes when a definition changes', () => {
    const changed = jobsOf(
      'a.yaml',
      'name: a\nschedule: "@hourly"\npayload: { x: 2, y: [1, 2] }\n',
    );
    expect(definitionsHash([...changed, ...b])).not.toBe(definitionsHash([...a, ...b]));
    expect(definitionsHash([])).not.toBe(definitionsHash(b));
  });
});
