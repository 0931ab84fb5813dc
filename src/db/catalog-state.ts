import type { ModelSpec } from '../model/spec.ts';
import type { Db } from './database.ts';
import { storedSpec } from './json-columns.ts';
import type { VersionState } from './types.ts';

export type ModelState = {
  name: string;
  spec: ModelSpec;
  versions: {
    id: string;
    number: number;
    state: VersionState;
    createdAt: Date;
    publishedAt: Date | null;
  }[];
  /** its publication intervals, oldest first: which version was live when */
  history: { number: number; from: Date; to: Date | null }[];
};

/** Every model (or one) with the state of each of its versions: what the API holds in memory. */
export async function listModelStates(db: Db, name?: string): Promise<ModelState[]> {
  let models = db.selectFrom('models').select(['name', 'spec']);
  let versions = db
    .selectFrom('versions')
    .select(['id', 'model', 'number', 'state', 'created_at', 'published_at']);
  let history = db
    .selectFrom('publications as p')
    .innerJoin('versions as v', 'v.id', 'p.version_id')
    .select(['p.model', 'v.number', 'p.valid_from', 'p.valid_to']);
  if (name !== undefined) {
    models = models.where('name', '=', name);
    versions = versions.where('model', '=', name);
    history = history.where('p.model', '=', name);
  }
  // one after the other: the API's catalog reads on a single connection (src/api/catalog.ts)
  const modelRows = await models.execute();
  const versionRows = await versions.orderBy('number').execute();
  const historyRows = await history.orderBy('p.valid_from').orderBy('p.id').execute();
  const byModel = new Map<string, ModelState>(
    modelRows.map((row) => [
      row.name,
      { name: row.name, spec: storedSpec(row.spec), versions: [], history: [] },
    ]),
  );
  for (const row of historyRows) {
    byModel.get(row.model)?.history.push({ number: row.number, from: row.valid_from, to: row.valid_to });
  }
  for (const row of versionRows) {
    byModel.get(row.model)?.versions.push({
      id: row.id,
      number: row.number,
      state: row.state,
      createdAt: row.created_at,
      publishedAt: row.published_at,
    });
  }
  return [...byModel.values()];
}
