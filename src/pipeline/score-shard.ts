import { hostname } from 'node:os';
import { createClient } from '../db/client.ts';
import { createDbOnClient } from '../db/database.ts';
import { storedSpec } from '../db/json-columns.ts';
import { shardLockName } from '../db/locks.ts';
import { dropShard, indexShard } from '../db/partitions.ts';
import {
  finishShard,
  setRunProgressFromShards,
  setShardError,
  setShardRows,
  startShardAttempt,
} from '../db/run-shards.ts';
import { findRun } from '../db/runs.ts';
import { resolveSource } from '../db/source.ts';
import { findVersionById } from '../db/versions.ts';
import { PermanentError } from '../errors.ts';
import { acquireFence } from './fence.ts';
import { failsForGood, phaseSpan, type RefreshAttempt, type RefreshDeps, type ShardJob } from './refresh.ts';
import { scoreToTable } from './score-to-table.ts';

/** Which worker process ran a shard, as run_shards and `GET /v1/runs/:runId` show it. */
export const workerName = `${hostname()}:${process.pid}`;

export type ShardAttempt = Omit<RefreshAttempt, 'runId' | 'flow'> & { job: ShardJob };

export type ShardOutcome =
  | { state: 'scored'; shard: number; rows: number }
  | { state: 'skipped'; reason: string };

/**
 * One attempt at one shard of a sharded run (a child job): scores the keys of its share with the
 * artifact its run trained, into the shard's own table, then builds that table's primary key.
 * The attempt holds the shard's lock on a connection of its own and writes only through it, like a
 * refresh attempt with its version's: a stale attempt (a worker that stalled and whose job was
 * handed over) can write nothing, and the run's parent takes every shard's lock before it uses
 * their tables. A retry starts from nothing: the shard's table goes first.
 */
export async function runShard(deps: RefreshDeps, attempt: ShardAttempt): Promise<ShardOutcome> {
  const { db, logger } = deps;
  const { runId, versionId, shard, shards } = attempt.job;
  const run = await findRun(db, runId);
  if (run === undefined) throw new PermanentError(`run ${runId} does not exist`);
  if (run.state !== 'running') return { state: 'skipped', reason: `run is ${run.state}` };
  const version = await findVersionById(db, versionId);
  if (version === undefined) throw new PermanentError(`version ${versionId} does not exist`);
  if (version.state !== 'running') return { state: 'skipped', reason: `version is ${version.state}` };
  const { artifact } = version.lineage;
  const spec = version.lineage.spec === undefined ? undefined : storedSpec(version.lineage.spec);
  if (artifact === undefined || spec?.source === undefined) {
    throw new PermanentError(`version ${versionId} has no trained artifact to score shard ${shard} with`);
  }
  const log = logger.child({ model: spec.name, runId, versionId, shard });
  const source = await resolveSource(db, spec.source);

  const client = createClient(deps.databaseUrl, `almanac-shard-v${versionId}-s${shard}`);
  client.on('error', (error) => log.warn({ err: error }, 'the shard lost its database connection'));
  await client.connect();
  try {
    await acquireFence(
      client,
      shardLockName(versionId, shard),
      deps.lockWaitMs ?? 30_000,
      attempt.stillOwnsJob,
      log,
    );
    const fenced = createDbOnClient(client);
    try {
      const number = await startShardAttempt(fenced, runId, shard, workerName);
      log.info({ attempt: number, of: shards }, 'shard scoring');
      await dropShard(client, versionId, shard);
      const keysPerShard = attempt.job.keys / shards;
      const scored = await scoreToTable({
        databaseUrl: deps.databaseUrl,
        client,
        source,
        estimator: spec.estimator,
        artifact,
        target: { versionId, shard },
        shard: { versionId, index: shard, count: shards },
        onRows: (rows) => {
          setShardRows(fenced, runId, shard, number, rows)
            .then(() =>
              keysPerShard > 0
                ? setRunProgressFromShards(db, runId, phaseSpan.scoring, keysPerShard)
                : undefined,
            )
            .catch((error: unknown) => log.debug({ err: error }, 'progress update failed'));
        },
      });
      await indexShard(client, versionId, shard);
      await finishShard(fenced, runId, shard, { state: 'succeeded', ...scored.counts });
      if (keysPerShard > 0) await setRunProgressFromShards(db, runId, phaseSpan.scoring, keysPerShard);
      log.info({ rows: scored.counts.rows, scoreMs: scored.scoreMs, copyMs: scored.copyMs }, 'shard scored');
      return { state: 'scored', shard, rows: scored.counts.rows };
    } catch (error) {
      const final = failsForGood(error, attempt);
      const message = error instanceof Error ? error.message : String(error);
      log.error(
        { err: error, final },
        final ? 'shard failed for good' : 'shard attempt failed; it will be retried',
      );
      // through the fenced connection: a stale attempt records nothing
      await (final
        ? finishShard(fenced, runId, shard, { state: 'failed', error: message })
        : setShardError(fenced, runId, shard, message)
      ).catch((cleanup: unknown) => log.warn({ err: cleanup }, 'could not record the shard failure'));
      throw error;
    }
  } finally {
    await client.end().catch(() => {});
  }
}
