import type { Command } from 'commander';
import { createEtcd } from '../coordination/etcd.js';
import { createRedis } from '../redis/connection.js';
import { BatonError } from '../errors.js';
import { createLogger } from '../log.js';
import { Replica } from '../scheduler/replica.js';
import { startApi, type Api } from '../api/server.js';
import { configOf } from './output.js';

export function registerScheduler(program: Command): void {
  program
    .command('scheduler')
    .description('run one scheduler replica (campaigns in etcd; the leader fires jobs into BullMQ)')
    .option('--id <id>', 'replica id (env BATON_ID, default <hostname>-<pid>)')
    .option('--lease-ttl <seconds>', 'election lease TTL (env BATON_LEASE_TTL, default 5)')
    .option('--http <port>', 'HTTP port for API, dashboard and metrics (env BATON_HTTP)')
    .option(
      '--lookahead <ms>',
      'decide fires this early, enqueued as delayed jobs (env BATON_LOOKAHEAD, default 250)',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configOf(cmd);
      const logger = createLogger();
      const replica = new Replica({ config, logger });
      // The API has its own clients: its reads and watches never queue behind the fire loop.
      let api: Api | null = null;
      let closeClients = (): void => undefined;
      if (config.httpPort > 0) {
        const etcd = createEtcd(config);
        const redis = createRedis(config, 'cli');
        closeClients = () => {
          redis.disconnect();
          etcd.close();
        };
        try {
          api = await startApi({
            replica,
            config,
            redis,
            etcd,
            logger,
            port: config.httpPort,
            host: config.httpHost,
          });
        } catch (err) {
          closeClients();
          await replica.stop().catch(() => undefined);
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE' || code === 'EACCES') {
            throw new BatonError(
              'HTTP_LISTEN',
              `cannot serve HTTP on port ${config.httpPort}: ${(err as Error).message}`,
            );
          }
          throw err;
        }
      }
      // Others reach this replica at the advertised URL (a container's listen address is not).
      replica.setHttpUrl(api ? (config.advertiseUrl ?? api.url) : null);
      // Leaves even if a handle (a watch, a socket) would keep the process alive after a failure.
      const leaveSoon = () => setTimeout(() => process.exit(process.exitCode ?? 1), 2000).unref();
      try {
        // Refuses to start when the queue prefix belongs to another namespace.
        await replica.start();
      } catch (err) {
        await api?.close().catch(() => undefined);
        closeClients();
        leaveSoon();
        throw err;
      }
      await new Promise<void>((resolve, reject) => {
        let failure: Error | null = null;
        const shutdown = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          void replica
            .stop()
            .then(() => api?.close())
            .catch((err: unknown) => logger.error({ err }, 'error while shutting down'))
            .finally(() => {
              closeClients();
              if (failure) {
                leaveSoon();
                reject(failure);
              } else resolve();
            });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
        // Found later (Redis was down at start): the queue prefix is another namespace's.
        replica.once('fatal', (err) => {
          failure = err;
          shutdown('fatal');
        });
      });
    });
}
