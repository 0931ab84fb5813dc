import { sql } from 'kysely';
import type { z } from 'zod';
import type { Db } from './database.ts';
import {
  type DriftReport,
  driftReportSchema,
  type Lineage,
  lineageSchema,
  type Metrics,
  metricsSchema,
  type RealizedAccuracy,
  realizedSchema,
} from './json-columns.ts';
import type { VersionRow, VersionState } from './types.ts';

export type Version = {
  id: string;
  model: string;
  number: number;
  state: VersionState;
  rowCount: number | null;
  checksum: string | null;
  createdAt: Date;
  publishedAt: Date | null;
  lineage: Lineage;
  metrics: Metrics | null;
  drift: DriftReport | null;
  realized: RealizedAccuracy | null;
};

/**
 * A JSON column by its schema. A value that does not fit (written by a release whose shape differed)
 * is passed on as it was, never failing the read of the version: the schemas are loose, so that
 * means an old field changed its type, which the reader then meets as it is.
 */
function parsedOr<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : (value as T);
}

/** The one mapper of a versions row: its JSON columns are parsed here, once (src/db/json-columns.ts). */
export function toVersion(row: VersionRow): Version {
  return {
    id: row.id,
    model: row.model,
    number: row.number,
    state: row.state,
    rowCount: row.row_count === null ? null : Number(row.row_count),
    checksum: row.checksum,
    createdAt: row.created_at,
    publishedAt: row.published_at,
    lineage: parsedOr(lineageSchema, row.lineage ?? {}),
    metrics: parsedOr(metricsSchema.nullable(), row.metrics),
    drift: parsedOr(driftReportSchema.nullable(), row.drift),
    realized: parsedOr(realizedSchema.nullable(), row.realized),
  };
}

/**
 * Creates the next version of a model (state `running`). The model row is locked first so that
 * concurrent creations number one after the other; numbers of failed versions stay used.
 */
export async function createVersion(db: Db, model: string, lineage: Lineage): Promise<Version> {
  await db
    .selectFrom('models')
    .select('name')
    .where('name', '=', model)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const row = await db
    .insertInto('versions')
    .values((eb) => ({
      model,
      number: eb
        .selectFrom('versions')
        .select(sql<number>`coalesce(max(number), 0) + 1`.as('next'))
        .where('model', '=', model),
      lineage: JSON.stringify(lineage),
    }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return toVersion(row);
}

export async function findVersionById(db: Db, id: string): Promise<Version | undefined> {
  const row = await db.selectFrom('versions').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : toVersion(row);
}

export async function findVersion(db: Db, model: string, number: number): Promise<Version | undefined> {
  const row = await db
    .selectFrom('versions')
    .selectAll()
    .where('model', '=', model)
    .where('number', '=', number)
    .executeTakeFirst();
  return row === undefined ? undefined : toVersion(row);
}

export async function findPublishedVersion(db: Db, model: string): Promise<Version | undefined> {
  const row = await db
    .selectFrom('versions')
    .selectAll()
    .where('model', '=', model)
    .where('state', '=', 'published')
    .executeTakeFirst();
  return row === undefined ? undefined : toVersion(row);
}

/** Newest first, optionally of some states and below a version number (a page cursor). */
const LISTED_COLUMNS = [
  'id',
  'model',
  'number',
  'state',
  'row_count',
  'checksum',
  'created_at',
  'published_at',
  'lineage',
  'metrics',
  'realized',
] as const;

/** A version as listings show it, with the verdict of its drift report and the baseline it was judged against. */
export type VersionLine = Version & { verdict: boolean | null; baselineNumber: number | null };

export async function listVersions(
  db: Db,
  model: string,
  options: {
    limit: number;
    states?: VersionState[];
    belowNumber?: number;
    /** listings leave each version's drift report (several KB) out unless asked: `drift` is then null */
    withDrift?: boolean;
    /**
     * the verdict and baseline of each version's report, read from it in Postgres (a table of
     * versions shows them); null unless asked, as reading them reads each report
     */
    withVerdict?: boolean;
  },
): Promise<VersionLine[]> {
  const fromReport = options.withVerdict === true;
  let query = db
    .selectFrom('versions')
    .select([
      ...LISTED_COLUMNS,
      options.withDrift === true ? 'drift' : sql<null>`NULL::jsonb`.as('drift'),
      fromReport
        ? sql<boolean | null>`(drift #>> '{verdict,passed}')::boolean`.as('verdict')
        : sql<null>`NULL::boolean`.as('verdict'),
      fromReport
        ? sql<number | null>`(drift #>> '{baseline,version}')::int`.as('baseline_number')
        : sql<null>`NULL::int`.as('baseline_number'),
    ])
    .where('model', '=', model);
  if (options.states !== undefined && options.states.length > 0)
    query = query.where('state', 'in', options.states);
  if (options.belowNumber !== undefined) query = query.where('number', '<', options.belowNumber);
  const rows = await query.orderBy('number', 'desc').limit(options.limit).execute();
  return rows.map((row) => ({
    ...toVersion(row),
    verdict: row.verdict,
    baselineNumber: row.baseline_number,
  }));
}

/** Adds keys to a version's lineage (a JSON merge at the top level). */
export async function mergeLineage(db: Db, id: string, patch: Lineage): Promise<void> {
  await db
    .updateTable('versions')
    .set({ lineage: sql`lineage || ${JSON.stringify(patch)}::jsonb` })
    .where('id', '=', id)
    .execute();
}

export async function setVersionResults(
  db: Db,
  id: string,
  results: { rowCount: number; checksum: string },
): Promise<void> {
  await db
    .updateTable('versions')
    .set({ row_count: results.rowCount, checksum: results.checksum })
    .where('id', '=', id)
    .execute();
}

/** Stores the drift report the gate judged a version by. */
/** A refresh's training metrics, kept on its version as soon as they are measured. */
export async function setVersionMetrics(db: Db, id: string, metrics: Metrics | null): Promise<void> {
  await db
    .updateTable('versions')
    .set({ metrics: JSON.stringify(metrics) })
    .where('id', '=', id)
    .execute();
}

export async function setDriftReport(db: Db, id: string, report: DriftReport): Promise<void> {
  await db
    .updateTable('versions')
    .set({ drift: JSON.stringify(report) })
    .where('id', '=', id)
    .execute();
}

/** Stores a version's realized accuracy. */
export async function setRealized(db: Db, id: string, realized: RealizedAccuracy): Promise<void> {
  await db
    .updateTable('versions')
    .set({ realized: JSON.stringify(realized) })
    .where('id', '=', id)
    .execute();
}

/** Moves a version from one of `from` to `to`; false when it was in another state. */
export async function transitionVersion(
  db: Db,
  id: string,
  from: VersionState[],
  to: VersionState,
): Promise<boolean> {
  const result = await db
    .updateTable('versions')
    .set({ state: to })
    .where('id', '=', id)
    .where('state', 'in', from)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** A model's versions that still have rows, newest first: what retention counts. */
export async function versionsWithRows(
  db: Db,
  model: string,
  states: readonly VersionState[],
): Promise<Pick<Version, 'id' | 'number' | 'state'>[]> {
  return db
    .selectFrom('versions')
    .select(['id', 'number', 'state'])
    .where('model', '=', model)
    .where('state', 'in', [...states])
    .orderBy('number', 'desc')
    .execute();
}

/** Versions in `states` whose table, or a shard's, still exists (an earlier pass could not drop it). */
export async function versionsWithTables(
  db: Db,
  model: string,
  states: readonly VersionState[],
): Promise<Pick<Version, 'id' | 'number'>[]> {
  return db
    .selectFrom('versions')
    .select(['id', 'number'])
    .where('model', '=', model)
    .where('state', 'in', [...states])
    .where(
      sql<boolean>`(to_regclass('estimates_v' || id) IS NOT NULL OR EXISTS (
        SELECT 1 FROM pg_class c
        WHERE c.relname ~ ('^estimates_v' || id || '_s[0-9]+$')
          AND c.relnamespace = current_schema()::regnamespace))`,
    )
    .execute();
}
