/**
 * Entry point of the scoring thread (see score-in-thread.ts): streams the newest source rows on a
 * connection of its own, checks them and writes them to the spill file (spillNewestRows).
 */
import { createWriteStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

import { createClient } from '../db/client.ts';
import type { SourceRef } from '../db/source.ts';
import { type Spilled, spillNewestRows } from './score.ts';

export type ScoringTask = {
  databaseUrl: string;
  source: SourceRef;
  /** newestRowsQuery (src/db/scoring.ts), built in the main thread, which has kysely loaded already */
  query: string;
  spillPath: string;
};

export type ScoringMessage =
  | { kind: 'progress'; rows: number }
  | { kind: 'done'; spilled: Spilled }
  | { kind: 'failed'; name: string; message: string; code: string | undefined };

const task = workerData as ScoringTask;
const post = (message: ScoringMessage) => parentPort?.postMessage(message);
const client = createClient(task.databaseUrl, 'almanac-scoring');
client.on('error', () => {});
try {
  await client.connect();
  const spilled = await spillNewestRows({
    client,
    source: task.source,
    query: task.query,
    target: createWriteStream(task.spillPath),
    onProgress: (rows) => post({ kind: 'progress', rows }),
  });
  post({ kind: 'done', spilled });
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
