import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { startTelephonySink } from '../telephony/sink.js';

interface SinkFlags {
  port: string;
  host: string;
  file?: string;
}

/**
 * `baton telephony-sink`: the fake telephony provider the `appointment-dialer` example calls.
 * Logs one JSON line per request (`call received`) and runs until SIGINT/SIGTERM.
 */
export function registerTelephonySink(program: Command): void {
  program
    .command('telephony-sink')
    .description(
      'run a local telephony stand-in that records calls (dedup by Idempotency-Key, fenced by X-Fencing-Token)',
    )
    .option('--port <port>', 'port to listen on (0 = any free port)', '4010')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--file <path>', 'append every decision to this JSON-lines file (read back on start)')
    .action(async (opts: SinkFlags) => {
      if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) {
        throw new UsageError(`--port must be a port number from 0 to 65535, got "${opts.port}"`);
      }
      const logger = createLogger();
      const sink = await startTelephonySink({
        port: Number(opts.port),
        host: opts.host,
        file: opts.file,
        logger,
      });
      logger.info(
        { url: sink.url, file: opts.file ?? null, calls: sink.summary().calls },
        `telephony sink listening on ${sink.url} (GET /calls, GET /calls/summary)`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', () => resolve());
        process.once('SIGINT', () => resolve());
      });
      await sink.close();
    });
}
