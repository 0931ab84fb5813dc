import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The API's Prometheus metrics, in a registry of its own (one per app). */
export function createMetrics(
  options: {
    queueDepth?: () => Promise<number>;
    heldVersions?: () => Map<string, number>;
    /** each model with a published version: its data's age, and whether that passed maxAgeHours */
    freshness?: () => Map<string, { ageSeconds: number; stale: boolean }>;
    /** the read replica, when there is one (src/api/version-reads.ts) */
    replica?: {
      /** whether reads may go there (it answers, and is a standby) */
      up: () => boolean;
      /** how many bytes of the primary's WAL it has yet to replay; NaN when that cannot be known */
      lagBytes: () => Promise<number>;
    };
  } = {},
) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'almanac_' });
  const requestDuration = new Histogram({
    name: 'almanac_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const lookups = new Counter({
    name: 'almanac_lookups_total',
    help: 'Keys looked up, by model',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const cache = { hits: 0, misses: 0 };
  const cacheHits = new Counter({
    name: 'almanac_estimate_cache_hits_total',
    help: 'Lookups answered from memory',
    registers: [registry],
  });
  const cacheMisses = new Counter({
    name: 'almanac_estimate_cache_misses_total',
    help: 'Lookups that went to Postgres',
    registers: [registry],
  });
  new Gauge({
    name: 'almanac_estimate_cache_hit_ratio',
    help: 'Share of lookups answered from memory since start',
    registers: [registry],
    collect() {
      this.set(cache.hits + cache.misses === 0 ? 0 : cache.hits / (cache.hits + cache.misses));
    },
  });
  const cacheLookups = (hits: number, misses: number) => {
    cache.hits += hits;
    cache.misses += misses;
    if (hits > 0) cacheHits.inc(hits);
    if (misses > 0) cacheMisses.inc(misses);
  };
  const abortedRequests = new Counter({
    name: 'almanac_http_requests_aborted_total',
    help: 'Requests whose client went away before the answer was complete, by route',
    labelNames: ['method', 'route'] as const,
    registers: [registry],
  });
  const snapshotBytes = new Counter({
    name: 'almanac_snapshot_bytes_total',
    help: 'Bytes of snapshots streamed, by model and format',
    labelNames: ['model', 'format'] as const,
    registers: [registry],
  });
  const dbReads = new Counter({
    name: 'almanac_db_reads_total',
    help: "Reads of versions' rows (lookups missing the cache, batches, snapshots, diffs), by the server that answered: primary or replica",
    labelNames: ['target'] as const,
    registers: [registry],
  });
  const replicaFallbacks = new Counter({
    name: 'almanac_db_replica_fallbacks_total',
    help: 'Reads the primary answered although a replica is configured, by reason: behind (it had not replayed the version yet), down, error (it failed the read)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const replicaCatchUp = new Histogram({
    name: 'almanac_db_replica_catch_up_seconds',
    help: 'From the first read the replica could not answer for want of a version to the replica having replayed it',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const replica = options.replica;
  if (replica !== undefined) {
    new Gauge({
      name: 'almanac_db_replica_lag_bytes',
      help: "Bytes of the primary's write-ahead log the read replica has yet to replay",
      registers: [registry],
      async collect() {
        this.set(await replica.lagBytes());
      },
    });
    new Gauge({
      name: 'almanac_db_replica_up',
      help: 'Whether reads may go to the read replica (1) or all go to the primary because it is down or not a standby (0)',
      registers: [registry],
      collect() {
        this.set(replica.up() ? 1 : 0);
      },
    });
  }
  const authLookups = new Counter({
    name: 'almanac_auth_lookups_total',
    help: 'API keys looked up in the database (a key not cached either way), by result: found or unknown',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'almanac_auth_failures_total',
    help: 'Requests refused for their API key, by reason: missing, unknown (or revoked), limited (too many failures from the address)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'almanac_queue_depth',
    help: 'Jobs waiting or delayed in the queue',
    registers: [registry],
    async collect() {
      if (options.queueDepth !== undefined) this.set(await options.queueDepth().catch(() => Number.NaN));
    },
  });
  new Gauge({
    name: 'almanac_versions_held',
    help: 'Versions the drift gate holds back, waiting for an operator to publish or reject them, by model',
    labelNames: ['model'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [model, n] of options.heldVersions?.() ?? []) this.set({ model }, n);
    },
  });
  new Gauge({
    name: 'almanac_published_age_seconds',
    help: "Age of the published version's data (since it was scored or imported), by model",
    labelNames: ['model'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [model, { ageSeconds }] of options.freshness?.() ?? []) this.set({ model }, ageSeconds);
    },
  });
  new Gauge({
    name: 'almanac_model_stale',
    help: "1 when the published version's data is older than the model's maxAgeHours, else 0, by model",
    labelNames: ['model'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [model, { stale }] of options.freshness?.() ?? []) this.set({ model }, stale ? 1 : 0);
    },
  });
  return {
    registry,
    requestDuration,
    abortedRequests,
    lookups,
    cacheLookups,
    snapshotBytes,
    dbReads,
    replicaFallbacks,
    replicaCatchUp,
    authLookups,
    authFailures,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
