import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { ConflictError } from '../errors.ts';
import {
  answerClientError,
  duplicatedHeader,
  MAX_HEADER_BYTES,
  refuseDuplicate,
  refuseExpectation,
  watchIdle,
} from './connection-guards.ts';

export type RunningServer = { url: string; server: Server; close: () => Promise<void> };

export type ServerOptions = {
  /** a client that sends nothing for this long, while the server waits on it, is answered 408 and dropped */
  idleTimeoutMs: number;
  /** how long `close()` lets requests in flight finish before it closes their connections */
  drainMs?: number;
};

/** Load balancers keep connections for 60 s: the server must not close first. */
const KEEP_ALIVE_MS = 65_000;
/**
 * A keep-alive connection that carried an answer this recently may be sending its next request
 * right now: closing it under that request would reset it. When draining, such a connection gets
 * one more answer (with `Connection: close`) or is closed once this has passed.
 */
const DRAIN_GRACE_MS = 250;

/**
 * Listens; `close()` drains: it stops accepting, lets requests in flight finish (up to
 * `drainMs`), answers each with `Connection: close` so its client opens no more on it, and
 * closes idle keep-alive connections at once (those idle for DRAIN_GRACE_MS; one that answered
 * more recently may be carrying its client's next request). A port that is taken, or not
 * allowed, fails with one sentence naming it.
 *
 * Clients are held to an idle timeout, never a total deadline: a request head must arrive within
 * `idleTimeoutMs`, and a body may take as long as it needs while bytes keep coming (a 1 GiB
 * import streams), but one that stalls for `idleTimeoutMs` is answered 408. Answers are not cut
 * while the client reads them, however slowly.
 */
export async function listen(
  handler: RequestListener,
  port: number,
  host: string,
  options: ServerOptions,
): Promise<RunningServer> {
  const { idleTimeoutMs, drainMs = 10_000 } = options;
  const inFlight = new Set<ServerResponse>();
  /** when each connection opened or last finished an answer */
  const lastActive = new WeakMap<Socket, number>();
  let draining = false;
  const server = createServer(
    {
      // the request head as a whole; Node checks it every connectionsCheckingInterval (30 s unless told)
      headersTimeout: idleTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, idleTimeoutMs),
      // no deadline on a whole request: the idle timeout (watchIdle) ends stalled bodies instead
      requestTimeout: 0,
      maxHeaderSize: MAX_HEADER_BYTES,
      keepAliveTimeout: KEEP_ALIVE_MS,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      inFlight.add(res);
      res.on('close', () => {
        inFlight.delete(res);
        lastActive.set(req.socket, Date.now());
      });
      if (draining) res.setHeader('Connection', 'close');
      watchIdle(req, res, idleTimeoutMs);
      const duplicated = duplicatedHeader(req.rawHeaders);
      if (duplicated !== undefined) refuseDuplicate(res, duplicated);
      else handler(req, res);
    },
  );
  // a connection that sends nothing at all: dropped after the idle timeout
  server.timeout = idleTimeoutMs;
  server.on('clientError', answerClientError);
  server.on('checkExpectation', refuseExpectation);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new ConflictError(
            `port ${port} on ${host} is already in use; stop what listens there or choose another`,
            {
              cause: error,
            },
          ),
        );
      } else {
        // a port below 1024, an address this machine does not have, a HOST that does not resolve
        reject(
          new ConflictError(`cannot listen on ${host}:${port} (${error.code ?? error.message})`, {
            cause: error,
          }),
        );
      }
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    lastActive.set(socket, Date.now());
    socket.on('close', () => sockets.delete(socket));
  });
  /** Closes the connections that carry no request and were not active within the grace. */
  const closeIdle = (graceMs: number) => {
    const now = Date.now();
    const busy = new Set([...inFlight].map((res) => res.socket));
    for (const socket of sockets) {
      if (busy.has(socket)) continue;
      if (now - (lastActive.get(socket) ?? 0) < graceMs) continue;
      socket.destroy();
    }
  };
  return {
    url: `http://${shown}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        draining = true;
        // answers not begun yet say that the connection closes after them
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        const force = setTimeout(() => server.closeAllConnections(), drainMs);
        const sweep = setInterval(() => closeIdle(DRAIN_GRACE_MS), DRAIN_GRACE_MS / 5);
        // net's close, not http's: http's also destroys every idle connection at once, even one
        // whose next request is on its way (a reset for that client); the sweep closes them instead
        net.Server.prototype.close.call(server, () => {
          clearTimeout(force);
          clearInterval(sweep);
          resolve();
        });
        closeIdle(DRAIN_GRACE_MS);
      }),
  };
}
