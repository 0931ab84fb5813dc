/**
 * The few errors that mean something to a caller; everything else is a bug or an outage. What each
 * means at an edge (HTTP status, CLI exit code, job retry) is decided in one place:
 * src/classify-error.ts.
 */

export type FieldIssue = { path: string; message: string };

/** Input that cannot be used; `issues` names every bad field. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly issues: readonly FieldIssue[];
  /** one sentence over all the issues, for an API answer (`the CSV was rejected: 3 problem(s)`) */
  readonly summary: string | undefined;

  constructor(issues: readonly FieldIssue[], options?: ErrorOptions & { summary?: string }) {
    super(issues.map((issue) => formatIssue(issue)).join('\n'), options);
    this.issues = issues;
    this.summary = options?.summary;
  }
}

/** The thing asked for does not exist (or is not visible yet). */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
  /** what to run next, for a person at the CLI (`see \`almanac models list\``); not for API clients */
  readonly cliHint: string | undefined;

  constructor(message: string, cliHint?: string) {
    super(message);
    this.cliHint = cliHint;
  }
}

/** The thing existed but its data is gone for good (a pruned version). */
export class GoneError extends Error {
  override name = 'GoneError';
}

/** The change is not allowed from the current state. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/**
 * A service the work needs (Redis, Postgres) does not answer: worth trying again shortly (503).
 * `detail` is what a client of the API is told when the message names what only operators should
 * see (a host, a setting).
 */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
  readonly detail: string | undefined;

  constructor(message: string, options?: ErrorOptions & { detail?: string }) {
    super(message, options);
    this.detail = options?.detail;
  }
}

/** A setting that cannot be used; `message` is one line per bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A command line that cannot be understood (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A request refused for how it was made rather than what it asks (no key, wrong scope, too large,
 * wrong content type, too many requests): already an HTTP status, with the headers that go with it.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    status: number,
    message: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

/**
 * A failure that no retry can fix (bad source data, a spec that no longer matches its table):
 * jobs turn it into BullMQ's UnrecoverableError.
 */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/** Bad source data that no retry can fix (the pipeline turns it into an UnrecoverableError). */
export class SourceDataError extends PermanentError {
  override name = 'SourceDataError';
}

export function formatIssue(issue: FieldIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** What fieldIssues reads of a zod issue (`keys`: those of an unrecognized_keys issue). */
type ZodIssueLike = {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  keys?: readonly string[];
};

/**
 * zod's issues as field issues under `prefix`, each said once: several checks of one field (a
 * number too large for both its range and its type, say) would otherwise repeat the same words.
 */
export function fieldIssues(
  issues: readonly ZodIssueLike[],
  prefix: readonly PropertyKey[] = [],
): FieldIssue[] {
  // zod says an unknown field at its parent (`body`: Unrecognized key "x"); a client fixes the
  // field itself, so each is named at its own path
  const found = issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' && issue.keys !== undefined
      ? issue.keys.map((key) => ({
          path: issuePath([...prefix, ...issue.path, key]),
          message: 'unknown field',
        }))
      : [{ path: issuePath([...prefix, ...issue.path]), message: issue.message }],
  );
  return found.filter(
    (issue, i) =>
      found.findIndex((other) => other.path === issue.path && other.message === issue.message) === i,
  );
}

/** zod issue paths as `a.b.0` */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((part) => String(part)).join('.');
}
