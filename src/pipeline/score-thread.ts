/**
 * Entry point of the scoring thread (see score-in-thread.ts): streams the newest source rows on a
 * connection of its own, scores them and writes COPY lines to the spill file.
 */
import { createWriteStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

import { createClient } from '../db/database.ts';
import type { ShardRef } from '../db/scoring.ts';
import type { SourceRef } from '../db/source.ts';
import { estimatorFor } from '../model/estimators/registry.ts';
import type { Artifact } from '../model/estimators/types.ts';
import { type ScoringCounts, scoreNewestRows } from './score.ts';

export type ScoringTask = {
  databaseUrl: string;
  source: SourceRef;
  shard?: ShardRef | undefined;
  estimator: string;
  artifact: Artifact;
  spillPath: string;
};

export type ScoringMessage =
  | { kind: 'progress'; rows: number }
  | { kind: 'done'; counts: ScoringCounts }
  | { kind: 'failed'; name: string; message: string; code: string | undefined };

const task = workerData as ScoringTask;
const post = (message: ScoringMessage) => parentPort?.postMessage(message);
const client = createClient(task.databaseUrl, 'almanac-scoring');
client.on('error', () => {});
try {
  await client.connect();
  const counts = await scoreNewestRows({
    client,
    source: task.source,
    shard: task.shard,
    estimator: estimatorFor(task.estimator),
    artifact: task.artifact,
    target: createWriteStream(task.spillPath),
    onProgress: (rows) => post({ kind: 'progress', rows }),
  });
  post({ kind: 'done', counts });
} catch (error) {
  const failure = error instanceof Error ? error : new Error(String(error));
  const code = (failure as { code?: unknown }).code;
  post({
    kind: 'failed',
    name: failure.name,
    message: failure.message,
    code: typeof code === 'string' ? code : undefined,
  });
} finally {
  await client.end().catch(() => {});
}
