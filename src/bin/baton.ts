#!/usr/bin/env node
import { main } from '../cli/index.js';

// `baton status | head`: a closed pipe ends the output, not the process with a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// grpc-js names the TLS server after the endpoint's host, so `https://10.0.0.5:2379` makes Node
// warn (DEP0123, "Setting the TLS ServerName to an IP address") on every connection. The
// certificate is still checked against the IP; the warning is noise on stderr, so that one code
// is dropped and every other warning printed as usual.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code =
    typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Every command has returned: a client still closing (an etcd channel to a silent server, a
// Redis socket) must not keep the process alive. The timer does not hold the process itself.
setTimeout(() => process.exit(code), 2000).unref();
