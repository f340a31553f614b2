import net from 'node:net';

/**
 * How {@link TcpProxy.cut} breaks the link.
 * - `reset`: every connection is reset (RST) and new ones are reset on accept — like a crashed
 *   or firewalled-with-reject host: the client learns at once.
 * - `blackhole`: connections stay open but nothing flows either way, and new connections are
 *   accepted but never reach the target — like a network partition: the client learns nothing
 *   until its own deadline or keepalive fires. `restore()` delivers what was held back, as TCP
 *   retransmission would after a healed partition.
 */
export type CutMode = 'reset' | 'blackhole';

interface Link {
  client: net.Socket;
  upstream: net.Socket | undefined;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one server, to simulate partitions between the code
 * under test and one etcd member or Redis (as etcd3's own tests do, without root or `iptables`).
 */
export class TcpProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>`, the form etcd3 wants as a host. */
  readonly endpoint: string;
  readonly #server: net.Server;
  readonly #target: { host: string; port: number };
  readonly #links = new Set<Link>();
  #mode: CutMode | undefined;

  /** @internal use {@link startTcpProxy} */
  constructor(server: net.Server, port: number, target: { host: string; port: number }) {
    this.#server = server;
    this.port = port;
    this.endpoint = `http://127.0.0.1:${port}`;
    this.#target = target;
    server.on('connection', (client) => this.#accept(client));
  }

  /** The current cut, or undefined while traffic flows. */
  get cutMode(): CutMode | undefined {
    return this.#mode;
  }

  /** Open client connections (including held ones during a blackhole). */
  get connectionCount(): number {
    return this.#links.size;
  }

  /** Breaks the link; see {@link CutMode}. @defaultValue mode 'reset' */
  cut(mode: CutMode = 'reset'): void {
    this.#mode = mode;
    for (const link of this.#links) {
      if (mode === 'reset') {
        this.#drop(link, true);
      } else if (link.upstream) {
        link.client.unpipe(link.upstream);
        link.upstream.unpipe(link.client);
        link.client.pause();
        link.upstream.pause();
      }
    }
  }

  /**
   * Lets traffic flow again; held connections are connected/resumed. Does nothing while traffic
   * flows: piping a live link a second time would send every byte twice.
   */
  restore(): void {
    if (this.#mode === undefined) return;
    this.#mode = undefined;
    for (const link of this.#links) {
      if (link.upstream) this.#pipe(link);
      else this.#connect(link);
    }
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const link of this.#links) this.#drop(link, false);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client, upstream: undefined };
    this.#links.add(link);
    client.on('error', () => this.#drop(link, false));
    client.on('close', () => this.#drop(link, false));
    if (this.#mode === 'blackhole') client.pause();
    else this.#connect(link);
  }

  #connect(link: Link): void {
    const upstream = net.connect(this.#target);
    link.upstream = upstream;
    upstream.on('error', () => this.#drop(link, false));
    upstream.on('close', () => this.#drop(link, false));
    this.#pipe(link);
  }

  #pipe(link: Link): void {
    if (!link.upstream) return;
    link.client.pipe(link.upstream);
    link.upstream.pipe(link.client);
  }

  #drop(link: Link, reset: boolean): void {
    if (!this.#links.delete(link)) return;
    for (const socket of [link.client, link.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}

/** Starts a {@link TcpProxy} on a free port (or `listenPort`) forwarding to `target`. */
export async function startTcpProxy(
  target: { host?: string; port: number },
  listenPort = 0,
): Promise<TcpProxy> {
  const server = net.createServer({ pauseOnConnect: false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: listenPort, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
  return new TcpProxy(server, address.port, {
    host: target.host ?? '127.0.0.1',
    port: target.port,
  });
}
