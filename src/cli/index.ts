import { Command, Option } from 'commander';
import { ENVIRONMENT_HELP } from '../config/index.js';
import { VERSION } from '../version.js';
import { registerAudit } from './audit.js';
import { registerDev } from './dev.js';
import { registerHistory } from './history.js';
import { registerJobs } from './jobs.js';
import { registerMembers } from './members.js';
import { registerNext } from './next.js';
import { registerPause } from './pause.js';
import { registerResume } from './resume.js';
import { registerScheduler } from './scheduler.js';
import { registerStatus } from './status.js';
import { registerTrigger } from './trigger.js';
import { registerValidate } from './validate.js';
import { registerWorker } from './worker.js';
import { redactText } from '../log.js';
import { capText } from '../text.js';
import { reportError } from './exit.js';

/** Builds the `baton` program with every subcommand. */
export function buildProgram(): Command {
  const program = new Command('baton')
    .description('distributed single-runner cron: etcd leader election, fenced firing into BullMQ')
    .version(VERSION)
    .addOption(new Option('--etcd <endpoints>', 'etcd endpoints, comma-separated'))
    .addOption(new Option('--redis <url>', 'Redis URL'))
    .addOption(new Option('--namespace <ns>', 'etcd key namespace'))
    .addOption(new Option('--jobs <dir>', 'folder of job definitions'))
    .addOption(new Option('--queue-prefix <prefix>', 'BullMQ key prefix'))
    .addOption(
      new Option('--timeout <seconds>', 'how long a command waits for etcd or Redis (default 5)'),
    )
    .addHelpText('after', `\n${ENVIRONMENT_HELP}\n`)
    // commander echoes what it could not parse (`unknown option '<arg>'`): at most a short,
    // printable excerpt of it. Subcommands inherit this.
    .configureOutput({
      outputError: (text, write) => write(`${capText(redactText(text.trimEnd()), 500)}\n`),
    })
    .showHelpAfterError()
    .exitOverride();
  registerScheduler(program);
  registerStatus(program);
  registerMembers(program);
  registerJobs(program);
  registerPause(program);
  registerResume(program);
  registerTrigger(program);
  registerValidate(program);
  registerNext(program);
  registerDev(program);
  registerWorker(program);
  registerHistory(program);
  registerAudit(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err);
  }
}
