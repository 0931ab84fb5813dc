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
 * Node's system error codes), never from message text: the HTTP status of the API's answer, the
 * CLI's exit code and sentence, and whether a job tries again or fails for good.
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
  /** a plain sentence, or `path: message` lines, for the caller; for `unexpected`, the error's own */
  message: string;
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

const kinds = (
  kind: ErrorKind,
  message: string,
  extra: Partial<Omit<ClassifiedError, 'kind' | 'message'>> = {},
): ClassifiedError => ({
  kind,
  message,
  status: extra.status ?? statusOf[kind],
  headers: extra.headers ?? (kind === 'unavailable' ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {}),
  exitCode: extra.exitCode ?? (kind === 'usage' ? 2 : 1),
  retry: extra.retry ?? (kind === 'unavailable' || kind === 'unexpected'),
  ...(extra.issues === undefined ? {} : { issues: extra.issues }),
});

const statusOf: Record<ErrorKind, number> = {
  invalid: 400,
  refused: 400,
  'not-found': 404,
  gone: 410,
  conflict: 409,
  unavailable: 503,
  usage: 400,
  permanent: 422,
  unexpected: 500,
};

export function classifyError(error: unknown): ClassifiedError {
  if (error instanceof ValidationError) return kinds('invalid', error.message, { issues: error.issues });
  if (error instanceof UsageError) return kinds('usage', error.message);
  if (error instanceof ConfigError) return kinds('unavailable', error.message, { status: 500, retry: false });
  if (error instanceof NotFoundError) return kinds('not-found', error.message);
  if (error instanceof GoneError) return kinds('gone', error.message);
  if (error instanceof ConflictError) return kinds('conflict', error.message);
  if (error instanceof UnavailableError) return kinds('unavailable', error.message);
  if (error instanceof HttpError) {
    return kinds(error.status === 503 ? 'unavailable' : 'refused', error.message, {
      status: error.status,
      headers: error.headers,
    });
  }
  if (error instanceof PermanentError || nameOf(error) === 'UnrecoverableError') {
    return kinds('permanent', messageOf(error));
  }
  if (nameOf(error) === 'MaxRetriesPerRequestError') {
    return kinds('unavailable', 'Redis does not answer right now; try again shortly');
  }
  const sqlState = sqlStateOf(error);
  if (sqlState !== undefined) return fromSqlState(sqlState, error);
  const system = systemErrorOf(error);
  if (system !== undefined) {
    const where = system.address === undefined ? 'a service' : `${system.address}:${system.port ?? ''}`;
    return kinds('unavailable', `cannot reach ${where} (${system.code}); is it running?`);
  }
  const client = clientErrorOf(error);
  if (client !== undefined) return client;
  return kinds('unexpected', messageOf(error));
}

function fromSqlState(state: string, error: unknown): ClassifiedError {
  const message = messageOf(error);
  if (state === '42P01') {
    return kinds(
      'unavailable',
      `the database has no Almanac schema yet (${message}); run \`almanac migrate\` first`,
    );
  }
  if (state === '3D000') return kinds('unavailable', `${message}; run \`almanac migrate\` to create it`);
  if (state.startsWith('28')) {
    return kinds('unavailable', `Postgres refused the login (${message}); check DATABASE_URL`);
  }
  if (state === '57014') {
    return kinds(
      'unavailable',
      'the database took too long to answer (statement timeout); try again shortly',
    );
  }
  if (TRANSIENT_STATES.has(state) || TRANSIENT_CLASSES.includes(state.slice(0, 2))) {
    return kinds('unavailable', `the database cannot do this right now (${message}); try again shortly`);
  }
  // data exceptions (class 22: an overflowing cast, a malformed value): the data will not change
  if (state.startsWith('22')) return kinds('permanent', message, { status: 400 });
  // integrity violations: another writer got there first
  if (state.startsWith('23')) return kinds('conflict', message, { retry: true });
  return kinds('unexpected', message);
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
    return kinds('invalid', 'the body is not valid JSON', {
      issues: [{ path: 'body', message: 'malformed JSON' }],
    });
  }
  if (error instanceof URIError) {
    return kinds(
      'invalid',
      'the URL holds malformed percent-encoding (a % not followed by a UTF-8 byte sequence)',
      {
        issues: [{ path: 'params', message: 'malformed percent-encoding' }],
      },
    );
  }
  if (code === 413) return kinds('refused', 'the body is too large', { status: 413 });
  return kinds(code === 400 ? 'invalid' : 'refused', messageOf(error), { status: code });
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

const nameOf = (error: unknown) => (error instanceof Error ? error.name : undefined);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
