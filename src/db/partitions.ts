import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { GoneError } from '../errors.ts';
import { hasSqlState, PgError } from './pg-errors.ts';

/**
 * A version's rows live in their own table, `estimates_v<id>`: written standalone, indexed, then
 * attached to `estimates` as its partition. Version ids are bigint from our own sequence, so the
 * names built here are safe to splice into DDL.
 */

type Client = pg.Client | pg.PoolClient;

/** A version id (our own bigint sequence, as text), checked before it is spliced into SQL. */
export function assertVersionId(versionId: string): string {
  if (!/^\d+$/.test(versionId)) throw new Error(`not a version id: ${versionId}`);
  return versionId;
}

/**
 * What a missing version table means to a reader that had just found the version: retention
 * dropped its rows in between. Any other error is given back as it is.
 */
export function asPruned(error: unknown): unknown {
  return hasSqlState(error, PgError.undefinedTable)
    ? new GoneError("a version's estimates were pruned by retention while they were read", { cause: error })
    : error;
}

export function partitionName(versionId: string): string {
  return `estimates_v${assertVersionId(versionId)}`;
}

/**
 * A shard of a sharded run's table: `estimates_v<id>_s<i>`, written standalone by the shard's own
 * child job, then attached to `estimates_v<id>` (partitioned by hash of the key) by the run's
 * parent. Shard indexes are small numbers, checked like version ids.
 */
export function shardTableName(versionId: string, shard: number): string {
  if (!Number.isInteger(shard) || shard < 0) throw new Error(`not a shard index: ${shard}`);
  return `${partitionName(versionId)}_s${shard}`;
}

/** The table a version's rows are written to: the version's own, or one shard of it. */
export type PartitionTarget = { versionId: string; shard?: number | undefined };

/** The table a target's rows go to: `estimates_v<id>`, or `estimates_v<id>_s<i>` for a shard. */
export const tableOf = (target: PartitionTarget) =>
  target.shard === undefined
    ? partitionName(target.versionId)
    : shardTableName(target.versionId, target.shard);

/** A fresh standalone table shaped like `estimates`, whose CHECK lets ATTACH skip its scan. */
export async function createStandalonePartition(client: Client, target: PartitionTarget): Promise<void> {
  const { versionId } = target;
  const table = tableOf(target);
  // A shard's CHECK has the name of its version table's: ATTACH requires a partition to carry its
  // parent's constraints by name.
  await client.query(
    `CREATE TABLE ${table} (LIKE estimates INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
       CONSTRAINT ${partitionName(versionId)}_version_check CHECK (version_id = ${versionId}))`,
  );
  await client.query(`ALTER TABLE ${table} ALTER COLUMN version_id SET DEFAULT ${versionId}`);
}

/**
 * A sharded run's table: `estimates_v<id>`, partitioned by hash of the key into `shards`, which the
 * children's tables become once they are all written. Created before the children start: each
 * child's source query keeps the keys of its share by this table's own hash partitioning
 * (src/db/scoring.ts), so what a child scores is exactly what its partition accepts.
 */
export async function createShardedPartition(client: Client, versionId: string): Promise<void> {
  const table = partitionName(versionId);
  await client.query(
    `CREATE TABLE ${table} (LIKE estimates INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
       CONSTRAINT ${table}_version_check CHECK (version_id = ${versionId})) PARTITION BY HASH (key)`,
  );
  await client.query(`ALTER TABLE ${table} ALTER COLUMN version_id SET DEFAULT ${versionId}`);
}

/**
 * The SQL condition that keeps the keys of one shard: the hash partition bound of that shard of
 * the version's table, applied to a key expression cast to text (the type of `estimates.key`).
 */
export function shardCondition(versionId: string, shard: number, shards: number, key: string): string {
  shardTableName(versionId, shard);
  if (!Number.isInteger(shards) || shards < 1) throw new Error(`not a shard count: ${shards}`);
  return `satisfies_hash_partition('${partitionName(versionId)}'::regclass, ${shards}, ${shard}, (${key})::text)`;
}

/**
 * Creates the standalone table (the version's, or one shard's) and COPYs the rows (tuples
 * `key, value, lower, upper, as_of` in COPY's binary format, which the server stores without
 * parsing a float or a time) into it in one transaction: the table exists complete or not at all,
 * and COPY FREEZE (allowed for a table created in the same transaction) writes the rows already
 * frozen, which also makes the primary key build that follows faster.
 */
export async function writePartition(
  client: Client,
  target: PartitionTarget,
  rows: () => Readable,
): Promise<void> {
  await client.query('BEGIN');
  try {
    await createStandalonePartition(client, target);
    // the source is opened only once the table exists, so a failure before leaves nothing open
    await pipeline(
      rows(),
      client.query(
        copyFrom(
          `COPY ${tableOf(target)} (key, value, lower, upper, as_of) FROM STDIN WITH (FORMAT binary, FREEZE)`,
        ),
      ),
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * Primary key, statistics, then ATTACH. ATTACH takes SHARE UPDATE EXCLUSIVE on `estimates`, so
 * readers go on; the CHECK constraint spares it a scan.
 */
export async function indexAndAttachPartition(client: Client, versionId: string): Promise<void> {
  // A resumed sharded run may have got this far before: what is done is not done again.
  if ((await partitionStatus(client, versionId)) === 'attached') return;
  await indexPartition(client, versionId);
  await attachPartition(client, versionId);
}

export async function indexPartition(client: Client, versionId: string): Promise<void> {
  const table = partitionName(versionId);
  if (!(await hasPrimaryKey(client, table))) await addPrimaryKey(client, table);
  await client.query(`ANALYZE ${table}`);
}

async function hasPrimaryKey(client: Client, table: string): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass($1) AND indisprimary) AS found',
    [table],
  );
  return rows[0]?.found === true;
}

/**
 * A shard's primary key, built by its own child (the shards' keys are indexed side by side); the
 * version table's primary key then adopts these indexes as its partitions' instead of building
 * anew, and its ANALYZE covers the shards.
 */
export async function indexShard(client: Client, versionId: string, shard: number): Promise<void> {
  await addPrimaryKey(client, shardTableName(versionId, shard));
}

/**
 * The primary key of a written table. A plain table's index is built first with CREATE UNIQUE
 * INDEX, whose SHARE lock lets the version's checksum read the rows meanwhile (ALTER TABLE ADD
 * PRIMARY KEY would lock them away for the whole build), then becomes the key at once. A sharded
 * run's (partitioned) table adopts its shards' keys, which is quick.
 */
async function addPrimaryKey(client: Client, table: string): Promise<void> {
  const { rows } = await client.query<{ partitioned: boolean }>(
    "SELECT relkind = 'p' AS partitioned FROM pg_class WHERE oid = to_regclass($1)",
    [table],
  );
  await client.query("SET maintenance_work_mem = '256MB'");
  if (rows[0]?.partitioned === true) {
    await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (version_id, key)`);
  } else {
    await client.query(`CREATE UNIQUE INDEX ${table}_pkey ON ${table} (version_id, key)`);
    await client.query(
      `ALTER TABLE ${table} ADD CONSTRAINT ${table}_pkey PRIMARY KEY USING INDEX ${table}_pkey`,
    );
  }
  await client.query('RESET maintenance_work_mem');
}

/**
 * Attaches every shard's table to the version's (hash-partitioned) table, before it is indexed;
 * those a resumed run had attached already stay as they are.
 */
export async function attachShards(client: Client, versionId: string, shards: number): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass($1)`,
    [partitionName(versionId)],
  );
  const attached = new Set(rows.map((row) => row.name));
  for (let shard = 0; shard < shards; shard += 1) {
    if (attached.has(shardTableName(versionId, shard))) continue;
    await client.query(
      `ALTER TABLE ${partitionName(versionId)} ATTACH PARTITION ${shardTableName(versionId, shard)}
       FOR VALUES WITH (MODULUS ${shards}, REMAINDER ${shard})`,
    );
  }
}

/**
 * ATTACH takes a lock on `estimates` that conflicts with every other ATTACH and DETACH until the
 * transaction ends: in a longer transaction (an import's), it is the last thing before the gate.
 */
export async function attachPartition(client: Client, versionId: string): Promise<void> {
  await client.query(
    `ALTER TABLE estimates ATTACH PARTITION ${partitionName(versionId)} FOR VALUES IN (${versionId})`,
  );
}

export type PartitionStatus = 'missing' | 'standalone' | 'attached' | 'detach-pending';

export async function partitionStatus(client: Client, versionId: string): Promise<PartitionStatus> {
  const { rows } = await client.query<{ attached: boolean | null; pending: boolean | null }>(
    `SELECT i.inhrelid IS NOT NULL AS attached, i.inhdetachpending AS pending
     FROM (SELECT to_regclass($1) AS oid) t
     LEFT JOIN pg_inherits i ON i.inhrelid = t.oid AND i.inhparent = 'estimates'::regclass
     WHERE t.oid IS NOT NULL`,
    [partitionName(versionId)],
  );
  const row = rows[0];
  if (row === undefined) return 'missing';
  if (row.pending === true) return 'detach-pending';
  return row.attached === true ? 'attached' : 'standalone';
}

/**
 * Drops a version's table, attached or not. Detaching uses CONCURRENTLY (readers of other
 * versions are never blocked) with a lock timeout; it cannot run inside a transaction.
 */
export async function dropPartition(
  client: Client,
  versionId: string,
  lockTimeoutMs = 10_000,
): Promise<void> {
  const table = partitionName(versionId);
  const status = await partitionStatus(client, versionId);
  if (status !== 'missing') await detachAndDrop(client, table, status, lockTimeoutMs);
  // the shards a sharded run's children wrote and its parent had not attached yet
  for (const shard of await standaloneShards(client, versionId)) {
    await dropShard(client, versionId, shard, lockTimeoutMs);
  }
}

/** Drops one shard's standalone table, if it is there (a shard's retry starts from nothing). */
export async function dropShard(
  client: Client,
  versionId: string,
  shard: number,
  lockTimeoutMs = 10_000,
): Promise<void> {
  await client.query(`SET lock_timeout = ${Math.round(lockTimeoutMs)}`);
  try {
    await client.query(`DROP TABLE IF EXISTS ${shardTableName(versionId, shard)}`);
  } finally {
    await client.query('SET lock_timeout = 0');
  }
}

/** The shard indexes of a version whose tables exist and are not attached to anything. */
async function standaloneShards(client: Client, versionId: string): Promise<number[]> {
  const { rows } = await client.query<{ shard: number }>(
    `SELECT substring(c.relname FROM '_s([0-9]+)$')::int AS shard FROM pg_class c
     WHERE c.relname ~ ('^' || $1 || '_s[0-9]+$') AND c.relkind = 'r'
       AND c.relnamespace = current_schema()::regnamespace
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
     ORDER BY 1`,
    [partitionName(versionId)],
  );
  return rows.map((row) => row.shard);
}

async function detachAndDrop(
  client: Client,
  table: string,
  status: Exclude<PartitionStatus, 'missing'>,
  lockTimeoutMs: number,
): Promise<void> {
  if (status !== 'standalone') {
    await client.query(`SET lock_timeout = ${Math.round(lockTimeoutMs)}`);
    try {
      // A detach interrupted half-way leaves the partition pending; FINALIZE completes it.
      await client.query(
        status === 'detach-pending'
          ? `ALTER TABLE estimates DETACH PARTITION ${table} FINALIZE`
          : `ALTER TABLE estimates DETACH PARTITION ${table} CONCURRENTLY`,
      );
    } finally {
      await client.query('SET lock_timeout = 0');
    }
  }
  await client.query(`DROP TABLE IF EXISTS ${table}`);
}

/**
 * A row's hash for a version's checksum, from its text form: the same rows give the same checksum
 * however they were written. sum() of the bigint hashes is already the exact numeric total (it
 * adds them in 128 bits), the same text a sum of hashes cast to numeric one by one gave, 10% sooner.
 */
export const ROW_HASH = `hashtextextended(concat_ws('|', key, value, lower, upper, as_of), 0)`;

/** A version's checksum from its row count and the sum of its rows' ROW_HASH (as text). */
export function checksumOf(rowCount: number, hashSum: string | null): string {
  return createHash('sha256')
    .update(`${rowCount}:${hashSum ?? 0}`)
    .digest('hex')
    .slice(0, 32);
}

/** Row count and an order-independent checksum of a version's rows, computed in Postgres. */
export async function partitionChecksum(
  client: Client,
  versionId: string,
): Promise<{ rowCount: number; checksum: string }> {
  const { rows } = await client.query<{ n: string; sum: string | null }>(
    `SELECT count(*) AS n, sum(${ROW_HASH})::text AS sum FROM ${partitionName(versionId)}`,
  );
  const rowCount = Number(rows[0]?.n ?? 0);
  return { rowCount, checksum: checksumOf(rowCount, rows[0]?.sum ?? null) };
}
