import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from '../../src/db/database.ts';
import { partitionChecksum } from '../../src/db/partitions.ts';
import { hasSqlState, PgError } from '../../src/db/pg-errors.ts';
import { strayTables } from './pipeline.ts';

/**
 * What must hold after any fault, as a list of violations (empty when all is well): every
 * servable version complete (its rows' count and checksum as recorded), no table of a version
 * that will never be served, one version per run, no run left queued or running, and each
 * model's `latest_estimates` its published version.
 */
export async function invariantViolations(db: Db, pool: pg.Pool): Promise<string[]> {
  const violations: string[] = [];
  const unfinished = await sql<{ id: string; state: string; phase: string }>`
    SELECT id, state, phase FROM runs WHERE state IN ('queued', 'running')`.execute(db);
  for (const run of unfinished.rows) violations.push(`run ${run.id} is still ${run.state} (${run.phase})`);

  const twice = await sql<{ run: string; n: number }>`
    SELECT lineage->>'runId' AS run, count(*)::int AS n FROM versions
    WHERE lineage ? 'runId' GROUP BY 1 HAVING count(*) > 1`.execute(db);
  for (const { run, n } of twice.rows) violations.push(`run ${run} made ${n} versions`);

  const servable = await sql<{
    id: string;
    model: string;
    number: number;
    row_count: number | null;
    checksum: string | null;
  }>`
    SELECT id, model, number, row_count, checksum FROM versions
    WHERE state IN ('held', 'published', 'superseded')`.execute(db);
  const client = await pool.connect();
  try {
    for (const version of servable.rows) {
      const found = await partitionChecksum(client, version.id).catch(async (error: unknown) => {
        // retention, which runs after a publish, pruned it meanwhile
        if (!hasSqlState(error, PgError.undefinedTable)) throw error;
        const now = await sql<{ state: string }>`SELECT state FROM versions WHERE id = ${version.id}`.execute(
          db,
        );
        if (now.rows[0]?.state === 'pruned') return undefined;
        throw error;
      });
      if (found === undefined) continue;
      if (found.rowCount !== Number(version.row_count) || found.checksum !== version.checksum) {
        violations.push(
          `version ${version.number} of ${version.model} has ${found.rowCount} rows (${found.checksum}), its lineage says ${version.row_count} (${version.checksum})`,
        );
      }
    }
  } finally {
    client.release();
  }

  // once every run has ended, every version table is attached, and only a servable version's
  // (retention, which runs after a publish, may still be dropping a pruned one: given 5 s)
  const leftOver = async () => {
    const { rows } = await sql<{ name: string; state: string | null }>`
      SELECT c.relname AS name, v.state FROM pg_class c
      LEFT JOIN versions v ON v.id::text = substring(c.relname FROM '^estimates_v([0-9]+)')
      WHERE c.relname ~ '^estimates_v[0-9]+(_s[0-9]+)?$' AND c.relkind IN ('r', 'p')
        AND (v.state IS NULL OR v.state NOT IN ('held', 'published', 'superseded'))`.execute(db);
    return [
      ...rows.map(({ name, state }) => `table ${name} is left over (version ${state ?? 'gone'})`),
      ...(await strayTables(db)).map((name) => `table ${name} is not attached`),
    ];
  };
  let tables = await leftOver();
  for (let i = 0; tables.length > 0 && i < 10; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    tables = await leftOver();
  }
  violations.push(...tables);

  const latest = await sql<{ model: string; served: number | null; published: number | null }>`
    SELECT m.name AS model,
           (SELECT min(l.version) FROM latest_estimates l WHERE l.model = m.name) AS served,
           v.number AS published
    FROM models m LEFT JOIN versions v ON v.id = m.published_version_id`.execute(db);
  for (const { model, served, published } of latest.rows) {
    if (served !== published)
      violations.push(`latest_estimates serves ${served} of ${model}, published is ${published}`);
  }
  return violations;
}
