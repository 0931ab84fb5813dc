import type { Db } from '../db/database.ts';
import { countKeys } from '../db/scoring.ts';
import type { SourceRef } from '../db/source.ts';
import type { ModelSpec } from '../model/spec.ts';

/** Keys per shard that `"shards": "auto"` aims at, and the most shards it picks. */
export const AUTO_KEYS_PER_SHARD = 250_000;
export const AUTO_MAX_SHARDS = 8;

/**
 * `auto`: one shard per 250,000 keys, at most 8 (below 250,000 keys one shard: a child job,
 * its table and the merge cost more than they save). More shards than workers' job slots only
 * queue; a spec that knows its fleet says a number.
 */
export function autoShards(keys: number): number {
  return Math.min(AUTO_MAX_SHARDS, Math.max(1, Math.ceil(keys / AUTO_KEYS_PER_SHARD)));
}

/**
 * How many shards a run scores in, decided once when it trains (its lineage keeps it): the spec's
 * number, or for `auto` the source's keys, from the planner's statistics (`estimated`, which the
 * caller has read: src/db/scoring.ts, estimatedKeys) when it has them and counted otherwise.
 */
export async function shardCount(
  db: Db,
  spec: ModelSpec,
  source: SourceRef,
  estimated: number | undefined,
): Promise<number> {
  if (spec.shards !== 'auto') return spec.shards;
  return autoShards(estimated ?? (await countKeys(db, source)));
}
