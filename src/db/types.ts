import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Row types of the public schema (migrations/), and the values of its enumerated columns. */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;
/** pg returns bigint as text; ids stay strings so no precision is ever lost. */
type BigId = ColumnType<string, string | number | bigint, string | number | bigint>;

export const VERSION_STATES = [
  'running',
  'held',
  'published',
  'superseded',
  'rejected',
  'failed',
  'pruned',
] as const;
export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed'] as const;
export const RUN_PHASES = [
  'queued',
  'checking',
  'training',
  'scoring',
  'indexing',
  'validating',
  'publishing',
  'done',
] as const;
export const SHARD_STATES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type VersionState = (typeof VERSION_STATES)[number];
export type ShardState = (typeof SHARD_STATES)[number];
export type RunState = (typeof RUN_STATES)[number];
export type RunPhase = (typeof RUN_PHASES)[number];
export type Scope = 'read' | 'admin';

export interface ModelTable {
  name: string;
  spec: Json;
  published_version_id: BigId | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface VersionTable {
  id: ColumnType<string, never, never>;
  model: string;
  number: number;
  state: ColumnType<VersionState, VersionState | undefined, VersionState>;
  row_count: BigId | null;
  checksum: string | null;
  created_at: Timestamp;
  published_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  lineage: ColumnType<unknown, string | undefined, string>;
  metrics: Json | null;
  drift: Json | null;
  realized: Json | null;
}

export interface RunTable {
  id: Generated<string>;
  model: string;
  slot: string;
  trigger: string;
  job_id: string | null;
  state: ColumnType<RunState, RunState | undefined, RunState>;
  phase: ColumnType<RunPhase, RunPhase | undefined, RunPhase>;
  progress: ColumnType<number, number | undefined, number>;
  version_id: BigId | null;
  error: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  /** go past failed input checks (`run --force-inputs`): kept on the row so that every retry does */
  force_inputs: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Timestamp;
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** One shard of a sharded run (migrations/0008_run_shards.ts). */
export interface RunShardTable {
  run_id: string;
  index: number;
  state: ColumnType<ShardState, ShardState | undefined, ShardState>;
  /** bigint counts, as text (pg's default for int8) */
  rows: ColumnType<string, number | undefined, number>;
  skipped_rows: ColumnType<string, number | undefined, number>;
  skipped_keys: ColumnType<string, number | undefined, number>;
  /** host:pid of the worker process that ran it last */
  worker: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  error: string | null;
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface EstimateTable {
  version_id: BigId;
  key: string;
  value: number;
  lower: number | null;
  upper: number | null;
  as_of: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface PublicationTable {
  id: ColumnType<string, never, never>;
  model: string;
  version_id: BigId;
  valid_from: Timestamp;
  valid_to: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  actor: string;
  reason: string | null;
}

export interface ApiKeyTable {
  name: string;
  key_hash: string;
  scopes: ColumnType<Scope[], Scope[], Scope[]>;
  created_at: Timestamp;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface DashboardSessionTable {
  id: string;
  key_hash: string;
  created_at: Timestamp;
  expires_at: ColumnType<Date, Date, Date>;
  ended_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface PinTable {
  model: string;
  consumer: string;
  version_id: BigId;
  expires_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  note: string | null;
  created_at: Timestamp;
}

export interface AlertOutboxTable {
  id: Generated<string>;
  model: string;
  event: string;
  url: string;
  body: Json;
  created_at: Timestamp;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  delivered_at: Date | null;
  failed_at: Date | null;
  last_error: string | null;
}

export interface LatestEstimateView {
  model: string;
  version: number;
  key: string;
  value: number;
  lower: number | null;
  upper: number | null;
  as_of: Date | null;
}

export interface Database {
  models: ModelTable;
  versions: VersionTable;
  runs: RunTable;
  run_shards: RunShardTable;
  estimates: EstimateTable;
  publications: PublicationTable;
  api_keys: ApiKeyTable;
  dashboard_sessions: DashboardSessionTable;
  pins: PinTable;
  alert_outbox: AlertOutboxTable;
  latest_estimates: LatestEstimateView;
  served_estimates: LatestEstimateView & { state: VersionState };
}

export type ModelRow = Selectable<ModelTable>;
export type NewModel = Insertable<ModelTable>;
export type ModelUpdate = Updateable<ModelTable>;
export type VersionRow = Selectable<VersionTable>;
export type RunRow = Selectable<RunTable>;
export type ApiKeyRow = Selectable<ApiKeyTable>;
