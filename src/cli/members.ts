import type { Command } from 'commander';
import { getStatus } from '../control/status.js';
import { ago, printJson, printTable, withControl } from './output.js';
import { stateColour } from './status.js';

export function registerMembers(program: Command): void {
  program
    .command('members')
    .description('every live scheduler replica with its host, pid, state and heartbeat')
    .option('--json', 'print the member records as a JSON array')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { members } = await withControl(cmd, getStatus);
      if (opts.json) return printJson(members);
      printTable(
        ['REPLICA', 'STATE', 'HOST', 'PID', 'STARTED', 'HEARTBEAT'],
        members.map((m) => [
          m.id,
          stateColour(m.state),
          m.host,
          String(m.pid),
          m.startedAt,
          ago(m.updatedAt),
        ]),
      );
    });
}
