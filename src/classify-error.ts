import { UnrecoverableError } from 'bullmq';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';
import {
  ConfigError,
  ConflictError,
  type FieldIssue,
  GoneError,
  HttpError,
  NotFoundError,
  PermanentError,
  UnavailableError,
  UsageError,
  ValidationError,
} from './errors.ts';

/**
 * What an error means at each edge, decided in one place from error classes and codes (SQLSTATEs,
 * Node's system error codes, the HTTP stack's statuses), never from message text: the HTTP status
 * and detail of the API's answer, the CLI's exit code and sentence, and whether a job tries again
 * or fails for good.
 */

export type ErrorKind =
  /** bad input; `issues` names each field */
  | 'invalid'
  /** a request refused for how it was made (401, 403, 413, 415, 429) */
  | 'refused'
  | 'not-found'
  | 'gone'
  | 'conflict'
  /** a dependency does not answer, or is not set up yet: try again shortly */
  | 'unavailable'
  | 'usage'
  /** a setting that cannot be used */
  | 'config'
  /** data no retry can fix */
  | 'permanent'
  /** a bug: logged with its stack; the API says no more than that */
  | 'unexpected';

export type ClassifiedError = {
  kind: ErrorKind;
  /** the API's status */
  status: number;
  /** the headers that go with it (Retry-After, WWW-Authenticate) */
  headers: Readonly<Record<string, string>>;
  /** the CLI's exit code: 2 for a command line it cannot understand, 1 for any other failure */
  exitCode: 1 | 2;
  /** false: a job fails for good at once (BullMQ's UnrecoverableError) */
  retry: boolean;
  /** a plain sentence, or `path: message` lines, for the CLI and the logs */
  message: string;
  /** what the API tells a client: the message, less what only an operator should see (hosts, settings) */
  detail: string;
  issues?: readonly FieldIssue[];
};

export const RETRY_AFTER_SECONDS = 5;

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** SQLSTATEs (and their classes) of a server that cannot do the work now but may shortly. */
const TRANSIENT_STATES = new Set([
  '57014', // query_canceled: a statement timeout
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
]);
const TRANSIENT_CLASSES = ['08', '53', '58'];
/** Integrity violations that another writer getting there first explains: worth a retry. */
const RACES = new Set(['23505', '23P01']);

const NOT_ANSWERING = 'a service this needs does not answer right now; try again shortly';

const statusOf: Record<ErrorKind, number> = {
  invalid: 400,
  refused: 400,
  'not-found': 404,
  gone: 410,
  conflict: 409,
  unavailable: 503,
  usage: 400,
  config: 500,
  permanent: 422,
  unexpected: 500,
};

const kinds = (
  kind: ErrorKind,
  message: string,
  extra: Partial<Omit<ClassifiedError, 'kind' | 'message'>> = {},
): ClassifiedError => ({
  kind,
  message,
  detail: extra.detail ?? (kind === 'unexpected' ? 'an unexpected error occurred' : message),
  status: extra.status ?? statusOf[kind],
  headers: extra.headers ?? (kind === 'unavailable' ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {}),
  exitCode: extra.exitCode ?? (kind === 'usage' ? 2 : 1),
  retry: extra.retry ?? (kind === 'unavailable' || kind === 'unexpected'),
  ...(extra.issues === undefined ? {} : { issues: extra.issues }),
});

export function classifyError(error: unknown): ClassifiedError {
  if (error instanceof ValidationError) {
    return kinds('invalid', error.message, {
      issues: error.issues,
      detail: error.summary ?? 'the request has invalid fields',
    });
  }
  if (error instanceof UsageError) return kinds('usage', error.message);
  if (error instanceof ConfigError) return kinds('config', error.message, { retry: false });
  if (error instanceof NotFoundError) {
    const message = error.cliHint === undefined ? error.message : `${error.message}; ${error.cliHint}`;
    return kinds('not-found', message, { detail: error.message });
  }
  if (error instanceof GoneError) return kinds('gone', error.message);
  if (error instanceof ConflictError) return kinds('conflict', error.message);
  if (error instanceof UnavailableError) {
    return kinds('unavailable', error.message, { detail: error.detail ?? error.message });
  }
  if (error instanceof HttpError) {
    return kinds(error.status === 503 ? 'unavailable' : 'refused', error.message, {
      status: error.status,
      headers: {
        ...(error.status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {}),
        ...error.headers,
      },
    });
  }
  if (error instanceof PermanentError || error instanceof UnrecoverableError) {
    return kinds('permanent', messageOf(error));
  }
  if (error instanceof MaxRetriesPerRequestError) {
    return kinds('unavailable', 'Redis does not answer right now; try again shortly', {
      detail: NOT_ANSWERING,
    });
  }
  // the HTTP stack's own errors first: a client's 4xx stays a 4xx whatever code it also carries
  const client = clientErrorOf(error);
  if (client !== undefined) return client;
  const sqlState = sqlStateOf(error);
  if (sqlState !== undefined) return fromSqlState(sqlState, error);
  const system = systemErrorOf(error);
  if (system !== undefined) {
    const where = system.address === undefined ? 'a service' : `${system.address}:${system.port ?? ''}`;
    return kinds('unavailable', `cannot reach ${where} (${system.code}); is it running?`, {
      detail: NOT_ANSWERING,
    });
  }
  return kinds('unexpected', messageOf(error));
}

function fromSqlState(state: string, error: unknown): ClassifiedError {
  const message = messageOf(error);
  const notSetUp = 'the service is not set up to answer this; its operators are told in its log';
  if (state === '42P01') {
    return kinds(
      'unavailable',
      `the database has no Almanac schema yet (${message}); run \`almanac migrate\` first`,
      {
        detail: notSetUp,
      },
    );
  }
  if (state === '3D000') {
    return kinds('unavailable', `${message}; run \`almanac migrate\` to create it`, { detail: notSetUp });
  }
  if (state.startsWith('28')) {
    return kinds('unavailable', `Postgres refused the login (${message}); check DATABASE_URL`, {
      detail: notSetUp,
    });
  }
  if (state === '57014') {
    const timedOut = 'the database took too long to answer (statement timeout); try again shortly';
    return kinds('unavailable', timedOut, { detail: timedOut });
  }
  if (TRANSIENT_STATES.has(state) || TRANSIENT_CLASSES.includes(state.slice(0, 2))) {
    return kinds('unavailable', `the database cannot do this right now (${message}); try again shortly`, {
      detail: NOT_ANSWERING,
    });
  }
  // data exceptions (class 22: an overflowing cast, a malformed value): the data will not change
  if (state.startsWith('22')) return kinds('permanent', message, { status: 400 });
  // another writer got there first
  if (RACES.has(state)) return kinds('conflict', message, { retry: true });
  return kinds('unexpected', message);
}

/** Whether a body the JSON parser refused is JSON after all (`null`, `1`: not an object). */
function parsesAsJson(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Errors of the HTTP stack (body parser, router) carry their status: a 4xx stays that status.
 * Malformed percent-encoding in a path is the router's URIError.
 */
function clientErrorOf(error: unknown): ClassifiedError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode, type } = error as { status?: unknown; statusCode?: unknown; type?: unknown };
  const code = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined;
  if (code === undefined || code < 400 || code > 499) return undefined;
  if (type === 'entity.parse.failed') {
    // the parser takes objects and arrays only: `null` or `1` is JSON, but not a body
    return parsesAsJson((error as { body?: unknown }).body)
      ? kinds('invalid', 'the body is JSON but not an object', {
          issues: [{ path: 'body', message: 'must be a JSON object' }],
        })
      : kinds('invalid', 'the body is not valid JSON', {
          issues: [{ path: 'body', message: 'malformed JSON' }],
        });
  }
  if (error instanceof URIError) {
    return kinds(
      'invalid',
      'the URL holds malformed percent-encoding (a % not followed by a UTF-8 byte sequence)',
      { issues: [{ path: 'params', message: 'malformed percent-encoding' }] },
    );
  }
  if (code === 413) return kinds('refused', 'the body is too large', { status: 413 });
  const message = messageOf(error);
  if (code === 400) return kinds('invalid', message, { issues: [{ path: 'body', message }] });
  return kinds('refused', message, { status: code });
}

function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E') ? code : undefined;
}

function systemErrorOf(error: unknown): { code: string; address?: string; port?: number } | undefined {
  const inner = error instanceof AggregateError ? error.errors[0] : error;
  const found = inner as { code?: unknown; address?: string; port?: number } | null;
  if (typeof found?.code !== 'string' || !UNREACHABLE.has(found.code)) {
    const cause = (error as { cause?: unknown } | null)?.cause;
    return cause === undefined || cause === error ? undefined : systemErrorOf(cause);
  }
  return {
    code: found.code,
    ...(found.address === undefined ? {} : { address: found.address }),
    ...(found.port === undefined ? {} : { port: found.port }),
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
