import { type Kysely, sql } from 'kysely';

// The readers' views hide the versions that may not be served, but a plain view lets the planner
// run a caller's cheap function on the rows of `estimates` before the view's own conditions: a
// reader that creates a function in pg_temp (PUBLIC's TEMP privilege allows it) and filters a
// view with it would see the rows of running and rejected versions. As security barriers, the
// views apply their own conditions first; leakproof conditions such as `key = '...'` still reach
// the indexes.

const VIEWS = ['latest_estimates', 'served_estimates'];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const view of VIEWS) {
    await sql`ALTER VIEW ${sql.table(view)} SET (security_barrier = true)`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const view of VIEWS) {
    await sql`ALTER VIEW ${sql.table(view)} RESET (security_barrier)`.execute(db);
  }
}
