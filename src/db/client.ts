import pg from 'pg';

/**
 * Our connections' session settings and the plain client, without kysely: the scoring thread
 * (src/pipeline/score-thread.ts) loads only this, pg and pg-copy-streams, since what a thread
 * imports is compiled again in every thread a run starts (kysely alone takes 0.2 s of CPU).
 */

/** Options every connection of ours gets: UTC, so dates and timestamps never shift. */
export const sessionOptions = '-c TimeZone=UTC';

/**
 * A connection of its own, outside any pool, with our session options: for an attempt's fenced
 * connection, LISTEN, a scoring thread. The caller connects it, listens for its 'error' as it
 * sees fit, and ends it.
 */
export function createClient(connectionString: string, applicationName: string): pg.Client {
  return new pg.Client({ connectionString, application_name: applicationName, options: sessionOptions });
}
