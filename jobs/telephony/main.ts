/**
 * The fake telephony provider the `appointment-dialer` example calls, as a process:
 * `node dist/jobs/telephony/main.js [--port 4010] [--host 127.0.0.1] [--file calls.jsonl]`.
 * Logs one JSON line per request (`call received`) and runs until SIGINT/SIGTERM. Example code,
 * not part of baton: it uses only Node and pino.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startTelephonySink } from './sink.js';

function fail(message: string): never {
  process.stderr.write(`telephony-sink: ${message}\n`);
  process.exit(2);
}

let values: { port?: string; host?: string; file?: string };
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      file: { type: 'string' },
    },
  }));
} catch (err) {
  fail(`${(err as Error).message}; usage: [--port 0-65535] [--host ADDRESS] [--file PATH]`);
}
const port = values.port ?? '4010';
if (!/^\d+$/.test(port) || Number(port) > 65535)
  fail(`--port must be a port number from 0 to 65535, got "${port}"`);

const logger = pino({ base: { service: 'telephony-sink' } });
const sink = await startTelephonySink({
  port: Number(port),
  host: values.host ?? '127.0.0.1',
  file: values.file,
  logger,
});
logger.info(
  { url: sink.url, file: values.file ?? null, calls: sink.summary().calls },
  `telephony sink listening on ${sink.url} (GET /calls, GET /calls/summary)`,
);
await new Promise<void>((resolve) => {
  process.once('SIGTERM', () => resolve());
  process.once('SIGINT', () => resolve());
});
await sink.close();
