import net from 'node:net';
import type { Logger } from 'pino';
import { startApi } from '../../src/api/start.ts';
import { testRuntime } from './runtime.ts';

export type TestApi = Awaited<ReturnType<typeof startTestApi>>;
/** A parsed JSON body: fields are loosely typed, as each test asserts the shape it expects. */
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = Record<string, any>;

/** The real API, built as `almanac serve` builds it, on a free port of 127.0.0.1. */
export async function startTestApi(
  databaseUrl: string,
  prefix: string,
  options: {
    auth?: boolean;
    rateLimitPerMinute?: number;
    /** count the rate limits in Redis (ALMANAC_RATE_LIMIT_REDIS) */
    rateLimitRedis?: boolean;
    /** failed authentications a minute per address (ALMANAC_AUTH_FAILURE_LIMIT); 0 (off) unless given */
    authFailuresPerMinute?: number;
    /** ALMANAC_HTTP_IDLE_TIMEOUT_MS; the default (10 s) unless given */
    idleTimeoutMs?: number;
    redisUrl?: string;
    maxImportBytes?: number;
    /** a read replica (DATABASE_READ_URL) */
    readUrl?: string;
    logger?: Logger;
    /** more of the environment (ALMANAC_REPORT_TIMEOUT_MS, say) */
    env?: Record<string, string>;
  } = {},
) {
  const runtime = testRuntime(
    databaseUrl,
    prefix,
    'api',
    {
      ALMANAC_AUTH: options.auth === true ? 'on' : 'off',
      ALMANAC_RATE_LIMIT: String(options.rateLimitPerMinute ?? 0),
      ALMANAC_RATE_LIMIT_REDIS: options.rateLimitRedis === true ? 'on' : 'off',
      ALMANAC_AUTH_FAILURE_LIMIT: String(options.authFailuresPerMinute ?? 0),
      ...(options.idleTimeoutMs === undefined
        ? {}
        : { ALMANAC_HTTP_IDLE_TIMEOUT_MS: String(options.idleTimeoutMs) }),
      ALMANAC_MAX_IMPORT_BYTES: String(options.maxImportBytes ?? 1024 ** 3),
      ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
      ...(options.readUrl === undefined ? {} : { DATABASE_READ_URL: options.readUrl }),
      ...options.env,
    },
    options.logger,
  );
  const api = await startApi(runtime, { port: 0, host: '127.0.0.1' }).catch(async (error: unknown) => {
    await runtime.close();
    throw error;
  });
  const request = (path: string, init: RequestInit = {}) => fetch(`${api.url}${path}`, init);
  const json = async (path: string, init: RequestInit = {}) => {
    const res = await request(path, init);
    const text = await res.text();
    const body: Body = text === '' ? {} : JSON.parse(text);
    return { status: res.status, headers: res.headers, body };
  };
  return {
    url: api.url,
    catalog: api.catalog,
    runtime,
    request,
    json,
    post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
      json(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    close: async () => {
      await api.close();
      await runtime.close();
    },
  };
}

/**
 * Signs in to the dashboard as a browser does: the login form first (its token and the cookie that
 * goes with it), then the key. `cookie` is the session's, to send back; `setCookie` as it came.
 */
export async function signIn(
  api: Pick<TestApi, 'request'>,
  key: string,
  next?: string,
): Promise<{ status: number; location: string; setCookie: string; cookie: string }> {
  const form = await api.request('/login');
  const challenge = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const res = await api.request('/login', {
    method: 'POST',
    headers: { cookie: challenge },
    body: new URLSearchParams({ key, _csrf: token, ...(next === undefined ? {} : { next }) }),
    redirect: 'manual',
  });
  await res.text();
  const setCookie = res.headers.get('set-cookie') ?? '';
  return {
    status: res.status,
    location: res.headers.get('location') ?? '',
    setCookie,
    cookie: setCookie.split(';')[0] ?? '',
  };
}

export type RawAnswer = { status: number; head: string; body: string };

/**
 * Bytes written to a raw connection (each chunk after its delay), read until the server closes
 * it: for what no HTTP client would send (doubled headers, a head that trickles in, a body that
 * stops). `status` is 0 when the server closed without answering.
 */
export function rawHttp(url: string, chunks: { after: number; data: string }[]): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const received: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // the server may close while the client still writes: what it answered counts
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      for (const timer of timers) clearTimeout(timer);
      const text = Buffer.concat(received).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const body = split < 0 ? '' : text.slice(split + 4);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body });
    });
    for (const { after, data } of chunks) {
      timers.push(setTimeout(() => socket.writable && socket.write(data), after));
    }
  });
}
