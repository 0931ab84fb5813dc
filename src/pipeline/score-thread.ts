/**
 * Entry point of a scoring thread (see score-in-thread.ts): for each task it is sent, streams the
 * newest source rows, checks them and writes them to the spill file (spillNewestRows). The thread
 * outlives its task: its process hands it the next run's, and its connection stays open between
 * the two, so that the next scoring read goes through a backend that has mapped Postgres's shared
 * buffers already (src/db/database.ts tells what a new one pays).
 */
import { createWriteStream } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type pg from 'pg';
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

const post = (message: ScoringMessage) => parentPort?.postMessage(message);

/** The open connection and the database it is to; none until the first task, or once it failed. */
let open: { url: string; client: pg.Client } | undefined;

async function connected(url: string): Promise<pg.Client> {
  if (open?.url === url) return open.client;
  await open?.client.end().catch(() => {});
  open = undefined;
  const client = createClient(url, 'almanac-scoring');
  // a connection lost while idle is opened again by the next task
  client.on('error', () => {
    if (open?.client === client) open = undefined;
  });
  await client.connect();
  open = { url, client };
  return client;
}

async function score(task: ScoringTask): Promise<void> {
  try {
    const spilled = await spillNewestRows({
      client: await connected(task.databaseUrl),
      source: task.source,
      query: task.query,
      target: createWriteStream(task.spillPath),
      onProgress: (rows) => post({ kind: 'progress', rows }),
    });
    post({ kind: 'done', spilled });
  } catch (error) {
    // the connection may be in the middle of a COPY: the next task opens another
    await open?.client.end().catch(() => {});
    open = undefined;
    const failure = error instanceof Error ? error : new Error(String(error));
    const code = (failure as { code?: unknown }).code;
    post({
      kind: 'failed',
      name: failure.name,
      message: failure.message,
      code: typeof code === 'string' ? code : undefined,
    });
  }
}

parentPort?.on('message', (task: ScoringTask) => {
  void score(task);
});
