import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConflictError } from '../errors.ts';

export type RunningServer = { url: string; server: Server; close: () => Promise<void> };

/**
 * Listens; `close()` drains: it stops accepting, lets requests in flight finish (up to
 * `drainMs`), and closes idle keep-alive connections at once. A port that is taken, or not
 * allowed, fails with one sentence naming it.
 */
export async function listen(
  handler: RequestListener,
  port: number,
  host: string,
  drainMs = 10_000,
): Promise<RunningServer> {
  const server = createServer(handler);
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
  server.keepAliveTimeout = 65_000;
  const address = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), drainMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
