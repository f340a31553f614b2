import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BATON_BIN } from './replicas.js';

const exec = promisify(execFile);

/** Runs the built CLI; resolves with exit code and output instead of throwing. */
export async function baton(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BATON_BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A stack trace in CLI output: lines starting with `at `. */
export const NO_STACK = /\n\s+at /;
