import type { ModelSpec } from '../model/spec.ts';
import type { Db } from './database.ts';
import { storedSpec } from './json-columns.ts';
import type { VersionState } from './types.ts';

export type ModelState = {
  name: string;
  spec: ModelSpec;
  versions: { id: string; number: number; state: VersionState; publishedAt: Date | null }[];
};

/** Every model (or one) with the state of each of its versions: what the API holds in memory. */
export async function listModelStates(db: Db, name?: string): Promise<ModelState[]> {
  let models = db.selectFrom('models').select(['name', 'spec']);
  let versions = db.selectFrom('versions').select(['id', 'model', 'number', 'state', 'published_at']);
  if (name !== undefined) {
    models = models.where('name', '=', name);
    versions = versions.where('model', '=', name);
  }
  const [modelRows, versionRows] = await Promise.all([
    models.execute(),
    versions.orderBy('number').execute(),
  ]);
  const byModel = new Map<string, ModelState>(
    modelRows.map((row) => [row.name, { name: row.name, spec: storedSpec(row.spec), versions: [] }]),
  );
  for (const row of versionRows) {
    byModel
      .get(row.model)
      ?.versions.push({ id: row.id, number: row.number, state: row.state, publishedAt: row.published_at });
  }
  return [...byModel.values()];
}
