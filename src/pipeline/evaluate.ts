import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import type { RealizedAccuracy } from '../db/json-columns.ts';
import { realizedAccuracy } from '../db/realized.ts';
import { resolveSource, type SourceRef, type SourceSpec } from '../db/source.ts';
import { listVersions, setRealized, type Version } from '../db/versions.ts';
import { GoneError, PermanentError } from '../errors.ts';
import type { ModelSpec } from '../model/spec.ts';
import { naiveFeatureOf } from '../model/train.ts';
import { requireModel } from '../versions/resolve.ts';
import { STATES_WITH_ROWS } from '../versions/states.ts';

const MAX_VERSIONS = 10_000;

export type Evaluation = {
  model: string;
  evaluated: { version: number; realized: RealizedAccuracy }[];
  /** versions already measured on every key: their figures cannot change */
  complete: number[];
  /** versions that cannot be measured, and why (no source table, a source that is gone) */
  skipped: { version: number; reason: string }[];
};

/**
 * Realized accuracy for every version of a model that still has its rows: each version's estimates
 * against the actuals that have arrived since (the source rows they scored, whose target is now
 * filled in), beside naive's on the same rows. A version measured on all its keys is final and
 * is not measured again. The figures are stored together, at the end, so that API processes
 * reload the model once. Safe to run at any time and any number of times.
 */
export async function evaluateModel(db: Db, model: string, logger: Logger): Promise<Evaluation> {
  const { spec } = await requireModel(db, model);
  const outcome: Evaluation = { model, evaluated: [], complete: [], skipped: [] };
  const versions = await listVersions(db, model, { limit: MAX_VERSIONS, states: [...STATES_WITH_ROWS] });
  // Versions nearly always share a source: it is resolved against the catalog once per spec.
  const sources = new Map<string, Promise<SourceRef>>();
  const resolved = (spec: SourceSpec) => {
    const key = JSON.stringify(spec);
    let source = sources.get(key);
    if (source === undefined) {
      source = resolveSource(db, spec);
      sources.set(key, source);
    }
    return source;
  };
  const measured: { id: string; version: number; realized: RealizedAccuracy }[] = [];
  for (const version of versions) {
    const previous = version.realized;
    if (previous !== null && version.rowCount !== null && previous.rows >= version.rowCount) {
      outcome.complete.push(version.number);
      continue;
    }
    const scored = scoredWith(version, spec);
    if (scored.source === undefined) {
      outcome.skipped.push({ version: version.number, reason: 'no source table to take actuals from' });
      continue;
    }
    try {
      const source = await resolved(scored.source);
      const figures = await realizedAccuracy(db, version.id, source, naiveFeatureOf(scored, source.features));
      measured.push({
        id: version.id,
        version: version.number,
        realized: { ...figures, keys: version.rowCount ?? 0, evaluatedAt: new Date().toISOString() },
      });
    } catch (error) {
      // A source table or column that is gone fails this version only; retention may also drop a
      // version's rows while it is measured (no such table).
      if (!(error instanceof PermanentError) && !(error instanceof GoneError)) throw error;
      outcome.skipped.push({ version: version.number, reason: (error as Error).message });
    }
  }
  await db.transaction().execute(async (trx) => {
    for (const { id, realized } of measured) await setRealized(trx, id, realized);
  });
  outcome.evaluated = measured.map(({ version, realized }) => ({ version, realized }));
  logger.info(
    {
      model,
      evaluated: outcome.evaluated.map((e) => e.version),
      complete: outcome.complete.length,
      skipped: outcome.skipped,
    },
    'realized accuracy evaluated',
  );
  return outcome;
}

/** What a version was scored with: its own spec (in its lineage), else the model's spec today. */
function scoredWith(
  version: Version,
  spec: ModelSpec,
): { estimator: string; params: Record<string, unknown>; source?: SourceSpec } {
  const own = version.lineage.spec;
  const source = own?.source ?? spec.source;
  return {
    estimator: own?.estimator ?? spec.estimator,
    params: own?.params ?? spec.params,
    ...(source === undefined ? {} : { source }),
  };
}
