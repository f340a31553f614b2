import type { Command } from 'commander';
import type { ReplicaState } from '../coordination/members.js';
import { getStatus } from '../control/status.js';
import { ExitError, EXIT } from './exit.js';
import { ago, paint, printJson, printTable, withControl } from './output.js';

export function stateColour(state: ReplicaState): string {
  return paint(state, state === 'leader' ? 'green' : state === 'follower' ? 'dim' : 'yellow');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the leader and every replica, as etcd sees them (exit 1 when no replica leads)')
    .option('--json', 'print { namespace, leader, token, members } as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const status = await withControl(cmd, getStatus);
      if (opts.json) {
        printJson(status);
      } else {
        process.stdout.write(
          `namespace ${status.namespace}: leader ${status.leader ? paint(status.leader, 'green') : paint('none', 'red')}${status.token ? ` (token ${status.token})` : ''}\n`,
        );
        printTable(
          ['REPLICA', 'STATE', 'REDIS', 'HEARTBEAT', 'DEFINITIONS', 'VERSION', 'HTTP'],
          status.members.map((m) => [
            m.id,
            stateColour(m.state),
            m.redisReady ? 'ok' : paint('down', 'red'),
            ago(m.updatedAt),
            m.definitionsHash.slice(0, 12),
            m.version,
            m.http ?? '-',
          ]),
        );
      }
      if (status.leader === null) throw new ExitError(EXIT.failure);
    });
}
