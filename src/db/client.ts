import pg from 'pg';

/**
 * Our connections' session settings and the plain client, without kysely: the scoring thread
 * (src/pipeline/score-thread.ts) loads only this, pg and pg-copy-streams, since what a thread
 * imports is compiled again in every thread a run starts (kysely alone takes 0.2 s of CPU).
 */

/**
 * Settings every connection of ours starts with, a connection string's own `options` between them:
 * - No JIT compilation. Our queries that cross its cost threshold are scans of a million rows or
 *   more, and for them the unoptimized code JIT emits ran slower than Postgres's interpreter: the
 *   scoring query took 2.0 s with it and 1.3 s without. Lookups never reach the threshold.
 * - No parallel workers. A refresh runs its own queries side by side (the scoring read beside
 *   training, the checksum beside the index build), so workers only oversubscribe the cores, and
 *   each is a new process that first maps every shared buffer it reads: a refresh of 1,000,000
 *   keys started eight of them for 1.5 s of CPU. Where a result must not depend on the order in
 *   which partial sums meet, the query says so itself (inStableOrder, src/db/training.ts).
 * - UTC, last, so that no `options` can change it: dates and timestamps must never shift.
 *
 * The string's `options` (`?options=-c …`) may override the first two. node-postgres would let
 * them replace all of ours, so they are taken out of the string and put in their place here.
 */
export function connectionConfig(connectionString: string): { connectionString: string; options: string } {
  const tuning = '-c jit=off -c max_parallel_workers_per_gather=0 -c max_parallel_maintenance_workers=0';
  const utc = '-c TimeZone=UTC';
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    // not a URL (a bare socket path, say): it carries no options
    return { connectionString, options: `${tuning} ${utc}` };
  }
  const own = url.searchParams.get('options');
  if (own === null) return { connectionString, options: `${tuning} ${utc}` };
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: `${tuning} ${own} ${utc}` };
}

/**
 * A connection of its own, outside any pool, with our session settings: for an attempt's fenced
 * connection, LISTEN, a scoring thread. The caller connects it, listens for its 'error' as it
 * sees fit, and ends it.
 */
export function createClient(connectionString: string, applicationName: string): pg.Client {
  return new pg.Client({ ...connectionConfig(connectionString), application_name: applicationName });
}
