import { sql } from 'kysely';
import type { Db } from './database.ts';
import { toVersion, type Version } from './versions.ts';

/**
 * The pointer flip of a publish, in the caller's transaction (which holds the model's lock): the
 * published version becomes `superseded`, this one `published`, the model's pointer moves, and the
 * publication history closes its open interval and opens one for this version. The change trigger
 * (migrations/0002_change_notifications.ts) announces it when the transaction commits.
 *
 * Both ends of the intervals, and `published_at`, are one instant: the flip's own
 * `clock_timestamp()` (not `now()`, the transaction's start, which may be seconds earlier),
 * truncated to milliseconds so that it reaches JavaScript as it is stored. Should the clock step
 * back, the instant is held at the open interval's start: intervals never run backwards.
 */
export async function flipPublished(
  trx: Db,
  version: Pick<Version, 'id' | 'model'>,
  by: { actor: string; reason: string | null },
): Promise<Version> {
  const clock = await sql<{ at: Date; open_from: Date | null }>`
    SELECT date_trunc('milliseconds', clock_timestamp()) AS at,
           (SELECT valid_from FROM publications WHERE model = ${version.model} AND valid_to IS NULL) AS open_from
  `.execute(trx);
  const row = clock.rows[0];
  if (row === undefined) throw new Error('clock_timestamp() answered no row');
  const at = row.open_from !== null && row.open_from > row.at ? row.open_from : row.at;
  await trx
    .updateTable('versions')
    .set({ state: 'superseded' })
    .where('model', '=', version.model)
    .where('state', '=', 'published')
    .where('id', '<>', version.id)
    .execute();
  const published = await trx
    .updateTable('versions')
    .set({ state: 'published', published_at: at })
    .where('id', '=', version.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .updateTable('models')
    .set({ published_version_id: version.id, updated_at: sql`now()` })
    .where('name', '=', version.model)
    .execute();
  await trx
    .updateTable('publications')
    .set({ valid_to: at })
    .where('model', '=', version.model)
    .where('valid_to', 'is', null)
    .execute();
  await trx
    .insertInto('publications')
    .values({
      model: version.model,
      version_id: version.id,
      valid_from: at,
      actor: by.actor,
      reason: by.reason,
    })
    .execute();
  return toVersion(published);
}

export type Publication = {
  id: string;
  version: number;
  validFrom: Date;
  /** null while it is the published one */
  validTo: Date | null;
  actor: string;
  reason: string | null;
};

/**
 * A model's publication intervals, newest first; `before` is a page's cursor: the start and id
 * of the last interval of the page before.
 */
export async function listPublications(
  db: Db,
  model: string,
  options: { limit: number; before?: { validFrom: Date; id: string } },
): Promise<Publication[]> {
  let query = db
    .selectFrom('publications as p')
    .innerJoin('versions as v', 'v.id', 'p.version_id')
    .select(['p.id', 'v.number', 'p.valid_from', 'p.valid_to', 'p.actor', 'p.reason'])
    .where('p.model', '=', model);
  if (options.before !== undefined) {
    const { validFrom, id } = options.before;
    query = query.where(sql<boolean>`(p.valid_from, p.id) < (${validFrom}, ${id}::bigint)`);
  }
  const rows = await query
    .orderBy('p.valid_from', 'desc')
    .orderBy('p.id', 'desc')
    .limit(options.limit)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    version: row.number,
    validFrom: row.valid_from,
    validTo: row.valid_to,
    actor: row.actor,
    reason: row.reason,
  }));
}
