import type pg from 'pg';
import { type PartitionTarget, tableOf, writePartition } from '../db/partitions.ts';
import { newestRowsQuery, type ShardRef } from '../db/scoring.ts';
import type { SourceRef } from '../db/source.ts';
import { estimatorFor } from '../model/estimators/registry.ts';
import type { Artifact } from '../model/estimators/types.ts';
import { type ScoringCounts, scoreSpilled } from './score.ts';
import { spillInThread } from './score-in-thread.ts';
import { createSpillFile } from './spill-file.ts';

export type Scored = {
  counts: ScoringCounts;
  /** milliseconds spent reading the source into the spill file (the lineage's `score` step) */
  scoreMs: number;
  /** milliseconds spent scoring the spilled rows on their way into the COPY */
  copyMs: number;
  /** milliseconds the COPY waited for the model once the source was read (a refresh measures it meanwhile) */
  modelWaitMs: number;
  /** performance.now() when the COPY began (write + index is timed from there) */
  copyStarted: number;
};

/**
 * Scores the newest source row of every key (of one shard's keys, for a sharded run's child) and
 * writes them into a fresh table through the attempt's fenced connection: the version's own table
 * (unsharded) or the shard's. One path for both, so a shard's rows are the rows an unsharded run
 * would write for those keys.
 *
 * The source is read into a spill file first (score.ts: the reading needs no model, so a refresh
 * starts it before it has trained), then scored on its way into one COPY once the model is
 * measured: memory stays flat, the source's stream and the COPY do not compete for the same cores,
 * a failure before the COPY has written nothing to Postgres, and the COPY statement is as short as
 * the data allows. A model that fails to come (the input checks failed, say) stops the reading at
 * once and rejects with its reason.
 */
export async function scoreToTable(options: {
  databaseUrl: string;
  client: pg.Client;
  source: SourceRef;
  estimator: string;
  /** the measured model; a refresh may still be checking its inputs and training it */
  artifact: Artifact | Promise<Artifact>;
  target: PartitionTarget;
  shard?: ShardRef | undefined;
  /** rows read so far, at most every half second */
  onRows: (rows: number) => void;
}): Promise<Scored> {
  const { target } = options;
  const estimator = estimatorFor(options.estimator);
  const model = Promise.resolve(options.artifact);
  const reading = new AbortController();
  model.catch((reason: unknown) => reading.abort(reason));
  const spill = await createSpillFile(tableOf(target));
  try {
    const scoringStarted = performance.now();
    let lastReport = 0;
    const spilled = await spillInThread(
      {
        databaseUrl: options.databaseUrl,
        source: options.source,
        query: newestRowsQuery(options.source, options.shard),
        spillPath: spill.path,
      },
      (rows) => {
        const now = performance.now();
        if (now - lastReport < 500) return;
        lastReport = now;
        options.onRows(rows);
      },
      reading.signal,
    );
    const read = performance.now();
    const artifact = await model;
    const copyStarted = performance.now();
    await writePartition(options.client, target, () =>
      scoreSpilled(estimator, artifact, { ...spilled, path: spill.path }),
    );
    const ended = performance.now();
    return {
      counts: spilled.counts,
      scoreMs: Math.round(read - scoringStarted),
      copyMs: Math.round(ended - copyStarted),
      modelWaitMs: Math.round(copyStarted - read),
      copyStarted,
    };
  } finally {
    await spill.remove();
  }
}
