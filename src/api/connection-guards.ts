import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import onHeaders from 'on-headers';
import { problemJson, problemTitle } from './problem.ts';
import { securityHeaderValues } from './security-headers.ts';

/**
 * What the HTTP server refuses before any route sees a request: heads too large or malformed,
 * headers that must come once sent twice, and clients that stop sending. Each is answered with
 * a problem document when the connection can still carry one, then closed.
 */

/** Largest request head (request line and headers); beyond it, 431. Node's own default, said here. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Headers that say who is calling, what the body is, or where it goes. Node keeps the first of
 * two and drops the second without a word (two `Authorization`s: which one did a proxy check?),
 * so a request that sends one of them twice is refused instead.
 */
const SINGLE_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'host',
  'origin',
]);

const SECURITY = securityHeaderValues();

/** The first header of SINGLE_HEADERS the request sends more than once (lower case), if any. */
export function duplicatedHeader(rawHeaders: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]?.toLowerCase() ?? '';
    if (!SINGLE_HEADERS.has(name)) continue;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

function answer(res: ServerResponse, status: number, detail: string, extra: Record<string, unknown> = {}) {
  const body = problemJson(status, detail, extra);
  res.writeHead(status, {
    ...SECURITY,
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}

export function refuseDuplicate(res: ServerResponse, name: string): void {
  answer(res, 400, `the "${name}" header is sent more than once; send it once`, {
    errors: [{ path: `headers.${name}`, message: 'must be sent once' }],
  });
}

/** The server's `checkExpectation`: an `Expect` other than `100-continue`, refused as a problem. */
export function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  answer(res, 417, `"Expect: ${req.headers.expect}" is not supported; only "100-continue" is`);
}

/**
 * How far the client has read: bytes whose write completed, and how much of the write in progress
 * is still queued. Node refreshes a socket's timer only when a whole write completes, and one
 * write can be megabytes (a Parquet row group): a reader that takes it slowly still moves this.
 */
function readProgress(socket: Socket): string {
  const queued = (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle
    ?.writeQueueSize;
  return `${socket.bytesWritten - socket.writableLength}/${queued ?? 0}`;
}

/**
 * Holds a request to the idle timeout: the socket's timer runs whenever nothing moves. A body
 * that stalls while the server waits for it is answered 408 (if nothing was answered yet) and its
 * connection closed (one the server is not reading yet, or is behind on, is not stalled); an answer
 * the client stops reading (bytes wait to be sent, and none went out for two idle periods) closes
 * the connection. While the server itself is working on the answer (the body is in, nothing is
 * waiting to be sent), the client is not idle and nothing happens.
 */
export function watchIdle(req: IncomingMessage, res: ServerResponse, idleMs: number): void {
  req.socket.setTimeout(idleMs);
  let progress = readProgress(req.socket);
  let stalled = 0;
  // Answered before its body was read (a 401 to a 2 GB upload): Node would keep the connection
  // and read the rest to throw it away, or wait on a body that never comes. It closes instead.
  // Only requests that declare a body are watched so: on-headers costs a lookup a third of its speed.
  const declaresBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  if (declaresBody) {
    onHeaders(res, () => {
      if (!req.complete) res.setHeader('Connection', 'close');
    });
  }
  // a listener here keeps Node from destroying the socket on its own: each case is decided below
  res.on('timeout', (socket: Socket) => {
    if (!req.complete) {
      // the body waits on the server (an import's COPY is behind): the client is not to blame
      if (req.isPaused() || req.readableLength > 0) {
        socket.setTimeout(idleMs);
        return;
      }
      if (res.headersSent) socket.destroy();
      else {
        // once the 408 is out, the body ends as aborted, so that whatever reads it (an import's
        // COPY) lets go: Node forgets a request when its answer finishes, and would never end it
        res.once('finish', () => req.destroy());
        answer(res, 408, `the request body stalled: nothing arrived for ${idleMs / 1000} s`);
      }
    } else if (socket.writableLength > 0) {
      const now = readProgress(socket);
      // Two idle periods without a byte taken: what the kernel's send buffer holds (megabytes on
      // a fast link) hides a slow reader's progress from Node until it has drained a good part.
      stalled = now === progress ? stalled + 1 : 0;
      progress = now;
      if (stalled >= 2) socket.destroy();
      else socket.setTimeout(idleMs);
    }
  });
}

/** A problem document written straight to a socket that carries no answer yet. */
function rawAnswer(status: number, detail: string): string {
  const body = problemJson(status, detail);
  const head = [
    `HTTP/1.1 ${status} ${problemTitle(status)}`,
    ...Object.entries(SECURITY).map(([name, value]) => `${name}: ${value}`),
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * The server's `clientError`: a request head Node could not take (too large, malformed, too slow
 * to arrive). Answered as Node would, but as a problem document.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || (current?.headersSent ?? false)) {
    socket.destroy();
    return;
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    socket.end(
      rawAnswer(
        431,
        `the request's headers are larger than ${MAX_HEADER_BYTES / 1024} KiB; send smaller ones`,
      ),
    );
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.end(rawAnswer(408, 'the request headers did not arrive in time'));
  } else {
    socket.end(rawAnswer(400, 'the request is not well-formed HTTP/1.1'));
  }
}
