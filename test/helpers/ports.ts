import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Ports handed out by this process; never handed out twice in one run. */
const handedOut = new Set<number>();

/**
 * Ports the WHATWG fetch standard blocks ("bad ports"): Node's fetch refuses them with
 * `fetch failed: bad port`, so a server on one of them cannot be probed or called by a test.
 * (10080 lies in the range drawn below; the others matter when the kernel picks.)
 */
const FETCH_BLOCKED = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
  103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
  512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
  995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
  6669, 6679, 6697, 10080,
]);

/** Lowest port tried outside the kernel's ephemeral range. */
const LOW_PORT = 10_000;

/**
 * The kernel's ephemeral range (`ip_local_port_range`), or undefined off Linux.
 *
 * A port taken from this range can be reused by the kernel as the *local* port of an outgoing
 * connection while our server is down (between kill9() and restart()), and the restart then
 * fails with EADDRINUSE. Ports below the range are never chosen by the kernel on its own.
 */
function ephemeralRange(): { low: number; high: number } | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low === undefined || high === undefined || !Number.isInteger(low)) return undefined;
    return { low, high };
  } catch {
    return undefined;
  }
}

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Returns `count` distinct TCP ports that are free on 127.0.0.1 right now and were not handed out
 * before by this process.
 *
 * On Linux the ports are drawn at random below the ephemeral range (see {@link ephemeralRange})
 * and checked by listening on them; elsewhere the kernel picks them (listen on port 0). All
 * probe listeners of one call stay open until every port is chosen, so one call never returns
 * the same port twice. Another process may still take a port before the server binds it: the
 * window is milliseconds, and etcd/redis fail loudly (EADDRINUSE in their log) if it happens.
 */
export async function freePorts(count: number): Promise<number[]> {
  const range = ephemeralRange();
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempts = 0; ports.length < count; attempts++) {
      if (attempts > count * 200) throw new Error(`could not find ${count} free TCP ports`);
      const candidate =
        range && range.low > LOW_PORT + 1000
          ? LOW_PORT + Math.floor(Math.random() * (range.low - LOW_PORT))
          : 0;
      if (handedOut.has(candidate) || FETCH_BLOCKED.has(candidate)) continue;
      const server = await listen(candidate);
      if (!server) continue;
      servers.push(server);
      const address = server.address();
      if (address === null || typeof address === 'string') continue;
      if (handedOut.has(address.port) || FETCH_BLOCKED.has(address.port)) continue;
      ports.push(address.port);
    }
  } finally {
    await Promise.all(servers.map(close));
  }
  for (const port of ports) handedOut.add(port);
  return ports;
}

/** One free port; see {@link freePorts}. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('freePorts returned nothing');
  return port;
}
