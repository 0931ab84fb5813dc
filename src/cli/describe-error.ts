import { ConfigError, getConfig } from '../config.ts';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import { ConflictError, GoneError, NotFoundError, UsageError, ValidationError } from '../errors.ts';

export const ExitCode = { ok: 0, failure: 1, usage: 2, held: 3 } as const;

/** One plain sentence (or `path: message` lines) for a failure, and the exit code it maps to. */
export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof UsageError) return { message: error.message, exitCode: ExitCode.usage };
  if (error instanceof ConfigError) return { message: error.message, exitCode: ExitCode.failure };
  if (
    error instanceof ValidationError ||
    error instanceof NotFoundError ||
    error instanceof ConflictError ||
    error instanceof GoneError
  ) {
    return { message: error.message, exitCode: ExitCode.failure };
  }
  if (hasSqlState(error, PgError.undefinedTable)) {
    return {
      message: `the database has no Almanac schema yet (${(error as Error).message}); run \`almanac migrate\` first`,
      exitCode: ExitCode.failure,
    };
  }
  if (hasSqlState(error, PgError.invalidCatalogName)) {
    return {
      message: `${(error as Error).message}; run \`almanac migrate\` to create it`,
      exitCode: ExitCode.failure,
    };
  }
  const network = networkFailure(error);
  if (network !== undefined) return { message: network, exitCode: ExitCode.failure };
  return { message: error instanceof Error ? error.message : String(error), exitCode: ExitCode.failure };
}

function networkFailure(error: unknown): string | undefined {
  const inner = error instanceof AggregateError ? error.errors[0] : error;
  if (typeof inner !== 'object' || inner === null || !('code' in inner)) return undefined;
  const { code, address, port } = inner as { code?: string; address?: string; port?: number };
  if (code !== 'ECONNREFUSED' && code !== 'ENOTFOUND' && code !== 'ETIMEDOUT' && code !== 'EHOSTUNREACH')
    return undefined;
  const where = address !== undefined ? `${address}${port !== undefined ? `:${port}` : ''}` : 'the server';
  return `cannot reach ${serviceAt(port)} at ${where} (${code}); is it running?`;
}

/** Which configured service listens on a port, named with the variable that points at it. */
function serviceAt(port: number | undefined): string {
  const config = getConfig();
  const portOf = (url: string, fallback: number) => Number(new URL(url).port || fallback);
  if (port === portOf(config.databaseUrl, 5432)) return 'Postgres (DATABASE_URL)';
  if (port === portOf(config.redisUrl, 6379)) return 'Redis (REDIS_URL)';
  return 'a service';
}
