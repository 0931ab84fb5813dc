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

/** A fresh standalone table shaped like `estimates`, whose CHECK lets ATTACH skip its scan. */
export async function createStandalonePartition(client: Client, versionId: string): Promise<void> {
  const table = partitionName(versionId);
  await client.query(
    `CREATE TABLE ${table} (LIKE estimates INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
       CONSTRAINT ${table}_version_check CHECK (version_id = ${versionId}))`,
  );
  await client.query(`ALTER TABLE ${table} ALTER COLUMN version_id SET DEFAULT ${versionId}`);
}

/**
 * Creates the standalone table and COPYs the rows (text lines `key\tvalue\tlower\tupper\tas_of`)
 * into it in one transaction: the table exists complete or not at all, and COPY FREEZE (allowed
 * for a table created in the same transaction) writes the rows already frozen, which also makes
 * the primary key build that follows faster.
 */
export async function writePartition(client: Client, versionId: string, rows: () => Readable): Promise<void> {
  await client.query('BEGIN');
  try {
    await createStandalonePartition(client, versionId);
    // the source is opened only once the table exists, so a failure before leaves nothing open
    await pipeline(
      rows(),
      client.query(
        copyFrom(
          `COPY ${partitionName(versionId)} (key, value, lower, upper, as_of) FROM STDIN WITH (FREEZE)`,
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
  await indexPartition(client, versionId);
  await attachPartition(client, versionId);
}

export async function indexPartition(client: Client, versionId: string): Promise<void> {
  const table = partitionName(versionId);
  await client.query("SET maintenance_work_mem = '256MB'");
  await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (version_id, key)`);
  await client.query('RESET maintenance_work_mem');
  await client.query(`ANALYZE ${table}`);
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
  if (status === 'missing') return;
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
 * Row count and an order-independent checksum of a version's rows, computed in Postgres from
 * their text form: the same rows give the same checksum however they were written.
 */
export async function partitionChecksum(
  client: Client,
  versionId: string,
): Promise<{ rowCount: number; checksum: string }> {
  const { rows } = await client.query<{ n: string; sum: string | null }>(
    `SELECT count(*) AS n,
            sum(hashtextextended(concat_ws('|', key, value, lower, upper, as_of), 0)::numeric)::text AS sum
     FROM ${partitionName(versionId)}`,
  );
  const row = rows[0];
  const checksum = createHash('sha256')
    .update(`${row?.n ?? 0}:${row?.sum ?? 0}`)
    .digest('hex')
    .slice(0, 32);
  return { rowCount: Number(row?.n ?? 0), checksum };
}
