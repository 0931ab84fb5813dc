import './zod-messages.ts';
import { z } from 'zod';
import { ConfigError, fieldIssues, formatIssue } from './errors.ts';
import { wholeNumber } from './whole-number.ts';

/** The only reader of `process.env`: every setting, validated once, with its default beside it. */

const onOff = z.enum(['on', 'off'], { error: 'must be "on" or "off"' });
const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
// 0: any free port (its URL is logged)
const port = wholeNumber(0, 65535);

const envSchema = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/almanac'),
  DATABASE_READ_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  ALMANAC_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, "_", "." or "-"')
    .default('almanac'),
  PORT: wholeNumber(0, 65535).default(8080),
  HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:[\]%-]{1,255}$/, 'must be a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0')
    .default('127.0.0.1'),
  ALMANAC_AUTH: onOff.default('on'),
  ALMANAC_TRUST_PROXY: z
    .string()
    .regex(
      /^(off|on|\d{1,2}|[\w.:/-]+(\s*,\s*[\w.:/-]+)*)$/,
      'must be "off", "on", a number of proxies, or addresses and subnets separated by commas (e.g. "loopback, 10.0.0.0/8")',
    )
    .default('off'),
  ALMANAC_SESSION_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (e.g. `openssl rand -hex 32`)')
    .optional(),
  ALMANAC_RATE_LIMIT: wholeNumber(0, 1_000_000_000).default(600_000),
  ALMANAC_RATE_LIMIT_REDIS: onOff.default('off'),
  ALMANAC_AUTH_FAILURE_LIMIT: wholeNumber(0, 1_000_000).default(30),
  ALMANAC_HTTP_IDLE_TIMEOUT_MS: wholeNumber(100, 3_600_000).default(10_000),
  ALMANAC_WORKER_CONCURRENCY: wholeNumber(1, 256).default(2),
  ALMANAC_MAX_IMPORT_BYTES: wholeNumber(1, Number.MAX_SAFE_INTEGER).default(1024 ** 3),
  ALMANAC_JOB_LOCK_MS: wholeNumber(1000, 600_000).default(30_000),
  ALMANAC_RECONCILE_MS: wholeNumber(200, 3_600_000).default(30_000),
  ALMANAC_REPORT_TIMEOUT_MS: wholeNumber(100, 3_600_000).default(60_000),
  ALMANAC_WORKER_METRICS_PORT: port.optional(),
  ALMANAC_SCHEDULER_METRICS_PORT: port.optional(),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'must be "json" or "pretty"' }).optional(),
});

function trustProxyOf(value: string): boolean | number | string {
  if (value === 'off' || value === 'on') return value === 'on';
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** The environment's variables under the names the code uses. */
const configSchema = envSchema.transform((e) => ({
  databaseUrl: e.DATABASE_URL,
  /**
   * a streaming standby of DATABASE_URL: the API reads lookups, snapshots and diffs there, each
   * version once the standby has replayed it (src/api/version-reads.ts); unset: all on the primary
   */
  databaseReadUrl: e.DATABASE_READ_URL,
  redisUrl: e.REDIS_URL,
  redisPrefix: e.ALMANAC_REDIS_PREFIX,
  port: e.PORT,
  /** where `almanac serve` listens (and the worker's and scheduler's metrics) */
  host: e.HOST,
  auth: e.ALMANAC_AUTH === 'on',
  /**
   * which proxies in front of the API to believe about the client (X-Forwarded-For, -Proto and
   * -Host): Express's `trust proxy`. Off: none, the connection's peer is the client.
   */
  trustProxy: trustProxyOf(e.ALMANAC_TRUST_PROXY),
  /**
   * signs the dashboard's session cookies; unset: a random secret per process (sessions end with
   * it, and each API replica would refuse the others' cookies)
   */
  sessionSecret: e.ALMANAC_SESSION_SECRET,
  rateLimitPerMinute: e.ALMANAC_RATE_LIMIT,
  /**
   * count the rate limit in Redis (under the prefix), shared by every API replica; off: each
   * process counts its own, and a lookup pays no round trip to Redis
   */
  rateLimitRedis: e.ALMANAC_RATE_LIMIT_REDIS === 'on',
  /** failed authentications a minute per client address before it is answered 429 (0: no limit) */
  authFailuresPerMinute: e.ALMANAC_AUTH_FAILURE_LIMIT,
  /** how long the API waits on a client that sends nothing (its head, or a stalled body) */
  httpIdleTimeoutMs: e.ALMANAC_HTTP_IDLE_TIMEOUT_MS,
  workerConcurrency: e.ALMANAC_WORKER_CONCURRENCY,
  maxImportBytes: e.ALMANAC_MAX_IMPORT_BYTES,
  /** how long a worker's hold on a job lasts without renewal: a dead worker's job moves on after it */
  jobLockMs: e.ALMANAC_JOB_LOCK_MS,
  /** how often workers look for unfinished runs with no job behind them (jobs/reconciler.ts) */
  reconcileMs: e.ALMANAC_RECONCILE_MS,
  /** how long the API lets a drift report's queries run before Postgres cancels them (503) */
  reportTimeoutMs: e.ALMANAC_REPORT_TIMEOUT_MS,
  /** where `almanac worker` serves `/metrics` and `/healthz`; unset: not served */
  workerMetricsPort: e.ALMANAC_WORKER_METRICS_PORT,
  /** where `almanac scheduler` serves `/metrics` and `/healthz`; unset: not served */
  schedulerMetricsPort: e.ALMANAC_SCHEDULER_METRICS_PORT,
  logLevel: e.LOG_LEVEL,
  /** unset: human-readable on a terminal, JSON elsewhere */
  logFormat: e.LOG_FORMAT,
}));

export { ConfigError };

export type Config = Readonly<z.output<typeof configSchema>>;

/** Parses an environment (empty strings count as unset) into a frozen config, or throws ConfigError. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => name in envSchema.shape && value !== ''),
  );
  const parsed = configSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(fieldIssues(parsed.error.issues).map(formatIssue).join('\n'));
  }
  return Object.freeze(parsed.data);
}

let loaded: Config | undefined;

/** The process's config, parsed from `process.env` on first use. */
export function getConfig(): Config {
  loaded ??= parseConfig(process.env);
  return loaded;
}
