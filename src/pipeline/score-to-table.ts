import { createReadStream } from 'node:fs';
import type pg from 'pg';
import { type PartitionTarget, tableOf, writePartition } from '../db/partitions.ts';
import type { ShardRef } from '../db/scoring.ts';
import type { SourceRef } from '../db/source.ts';
import type { Artifact, Interval } from '../model/estimators/types.ts';
import { type ScoringCounts, withInterval } from './score.ts';
import { scoreInThread } from './score-in-thread.ts';
import { createSpillFile } from './spill-file.ts';

export type Scored = {
  counts: ScoringCounts;
  /** milliseconds spent scoring into the spill file, then COPYing it */
  scoreMs: number;
  copyMs: number;
  /** performance.now() when the COPY began (write + index is timed from there) */
  copyStarted: number;
};

/**
 * Scores the newest source row of every key (of one shard's keys, for a sharded run's child) and
 * writes them into a fresh table through the attempt's fenced connection: the version's own table
 * (unsharded) or the shard's. One path for both, so a shard's rows are the rows an unsharded run
 * would write for those keys.
 *
 * Scored rows go to a spill file first and are COPYed from it in one go: memory stays flat, the
 * source cursor and the COPY do not compete for the same cores, a scoring failure has written
 * nothing to Postgres, and the COPY statement is as short as the data allows.
 */
export async function scoreToTable(options: {
  databaseUrl: string;
  client: pg.Client;
  source: SourceRef;
  estimator: string;
  artifact: Artifact;
  /** the interval added to every estimate; a refresh may still be measuring it while it scores */
  interval: Interval | Promise<Interval>;
  target: PartitionTarget;
  shard?: ShardRef | undefined;
  /** rows scored so far, at most every half second */
  onRows: (rows: number) => void;
  /** checks what was scored before anything is written (it throws to write nothing) */
  beforeCopy?: (counts: ScoringCounts) => void;
}): Promise<Scored> {
  const { target } = options;
  const spill = await createSpillFile(tableOf(target));
  try {
    const scoringStarted = performance.now();
    let lastReport = 0;
    const counts = await scoreInThread(
      {
        databaseUrl: options.databaseUrl,
        source: options.source,
        shard: options.shard,
        estimator: options.estimator,
        artifact: options.artifact,
        spillPath: spill.path,
      },
      (rows) => {
        const now = performance.now();
        if (now - lastReport < 500) return;
        lastReport = now;
        options.onRows(rows);
      },
    );
    const scoreMs = Math.round(performance.now() - scoringStarted);
    options.beforeCopy?.(counts);
    const interval = await options.interval;
    const copyStarted = performance.now();
    await writePartition(options.client, target, () => {
      // Small reads: COPY cannot take bytes faster than the server parses them, and big chunks
      // only pile up in the socket's buffer.
      const file = createReadStream(spill.path, { highWaterMark: 16 * 1024 });
      const tuples = withInterval(interval);
      file.on('error', (error) => tuples.destroy(error));
      return file.pipe(tuples);
    });
    return { counts, scoreMs, copyMs: Math.round(performance.now() - copyStarted), copyStarted };
  } finally {
    await spill.remove();
  }
}
