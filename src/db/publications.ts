import { sql } from 'kysely';
import type { Db } from './database.ts';
import { toVersion, type Version } from './versions.ts';

/**
 * The pointer flip of a publish, in the caller's transaction (which holds the model's lock): the
 * published version becomes `superseded`, this one `published`, the model's pointer moves, and the
 * publication history closes its open interval and opens one for this version. The change trigger
 * (migrations/0002_change_notifications.ts) announces it when the transaction commits.
 */
export async function flipPublished(
  trx: Db,
  version: Pick<Version, 'id' | 'model'>,
  by: { actor: string; reason: string | null },
): Promise<Version> {
  await trx
    .updateTable('versions')
    .set({ state: 'superseded' })
    .where('model', '=', version.model)
    .where('state', '=', 'published')
    .where('id', '<>', version.id)
    .execute();
  const published = await trx
    .updateTable('versions')
    .set({ state: 'published', published_at: sql`now()` })
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
    .set({ valid_to: sql`now()` })
    .where('model', '=', version.model)
    .where('valid_to', 'is', null)
    .execute();
  await trx
    .insertInto('publications')
    .values({ model: version.model, version_id: version.id, actor: by.actor, reason: by.reason })
    .execute();
  return toVersion(published);
}
