import { sql } from 'kysely';
import type { ModelSpec } from '../model/spec.ts';
import type { Db } from './database.ts';
import { storedSpec } from './json-columns.ts';

export type Model = {
  name: string;
  spec: ModelSpec;
  publishedVersion: number | null;
  /** when the published version was published */
  publishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

/** Stores a validated spec: creates the model or replaces its spec. */
export async function upsertModel(db: Db, spec: ModelSpec): Promise<{ created: boolean }> {
  const row = await db
    .insertInto('models')
    .values({ name: spec.name, spec: JSON.stringify(spec) })
    .onConflict((conflict) =>
      conflict
        .column('name')
        .doUpdateSet((eb) => ({ spec: eb.ref('excluded.spec'), updated_at: new Date() })),
    )
    // xmax is 0 only on a freshly inserted row: the cheapest way to tell insert from update.
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  return { created: row.created };
}

function selectModels(db: Db) {
  return db
    .selectFrom('models as m')
    .leftJoin('versions as v', 'v.id', 'm.published_version_id')
    .select([
      'm.name',
      'm.spec',
      'm.created_at',
      'm.updated_at',
      'v.number as published_number',
      'v.published_at as published_at',
    ])
    .orderBy('m.name');
}

type ModelSelection = Awaited<ReturnType<ReturnType<typeof selectModels>['executeTakeFirstOrThrow']>>;

function toModel(row: ModelSelection): Model {
  return {
    name: row.name,
    spec: storedSpec(row.spec),
    publishedVersion: row.published_number ?? null,
    publishedAt: row.published_at ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function listModels(db: Db): Promise<Model[]> {
  const rows = await selectModels(db).execute();
  return rows.map(toModel);
}

export async function findModel(db: Db, name: string): Promise<Model | undefined> {
  const row = await selectModels(db).where('m.name', '=', name).executeTakeFirst();
  return row === undefined ? undefined : toModel(row);
}

/**
 * Deletes a model and everything it owns (publication history, runs, versions) in the caller's
 * transaction. Its versions' tables must be dropped first (dropPartition, which cannot run in a
 * transaction when a table is attached).
 */
export async function deleteModelRows(db: Db, name: string): Promise<void> {
  await db.updateTable('models').set({ published_version_id: null }).where('name', '=', name).execute();
  await db.deleteFrom('publications').where('model', '=', name).execute();
  await db.deleteFrom('pins').where('model', '=', name).execute();
  await db.deleteFrom('runs').where('model', '=', name).execute();
  await db.deleteFrom('versions').where('model', '=', name).execute();
  await db.deleteFrom('models').where('name', '=', name).execute();
}
