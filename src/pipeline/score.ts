import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { streamNewestRows } from '../db/scoring.ts';
import type { SourceRef } from '../db/source.ts';
import type { Artifact, Estimator } from '../model/estimators/types.ts';
import { isValidKey } from '../model/keys.ts';
import { SourceDataError } from '../model/train.ts';

export type ScoringCounts = {
  rows: number;
  /** newest rows with a null or non-finite feature (or a non-finite prediction) */
  skippedRows: number;
  /** keys that are empty, longer than 256 characters or hold control characters */
  skippedKeys: number;
};

const CHUNK_CHARS = 256 * 1024;

/**
 * Scores the newest row of every key and writes `key\tvalue\tlower\tupper\tas_of` lines into
 * `target` (a COPY stream), with backpressure all the way: memory does not grow with the keys.
 */
export async function scoreNewestRows(options: {
  client: pg.PoolClient;
  source: SourceRef;
  estimator: Estimator<unknown, Artifact>;
  artifact: Artifact;
  target: Writable;
  onProgress: (rows: number) => void;
}): Promise<ScoringCounts> {
  const { estimator, artifact } = options;
  const { lower, upper } = artifact.interval;
  const featureCount = options.source.features.length;
  const counts: ScoringCounts = { rows: 0, skippedRows: 0, skippedKeys: 0 };
  const features = new Float64Array(featureCount);
  let buffer = '';
  let seen = 0;

  const toLines = new Transform({
    writableObjectMode: true,
    transform(row: unknown[], _encoding, done: TransformCallback) {
      seen += 1;
      if (seen % 50_000 === 0) options.onProgress(seen);
      const key = row[0] as string;
      if (Number(row[2]) > 1) {
        done(
          new SourceDataError(
            `duplicate key "${key}": ${String(row[2])} source rows at its newest time ${String(row[1])}`,
          ),
        );
        return;
      }
      if (!isValidKey(key)) {
        counts.skippedKeys += 1;
        done();
        return;
      }
      for (let j = 0; j < featureCount; j += 1) {
        const value = row[3 + j];
        features[j] = typeof value === 'number' ? value : Number.NaN;
      }
      let usable = true;
      for (let j = 0; j < featureCount; j += 1) usable &&= Number.isFinite(features[j]);
      const value = usable ? estimator.predict(artifact, features) : Number.NaN;
      if (!Number.isFinite(value)) {
        counts.skippedRows += 1;
        done();
        return;
      }
      counts.rows += 1;
      // Valid keys hold no control characters, so a backslash is the only byte COPY needs escaped.
      buffer += `${key.includes('\\') ? key.replaceAll('\\', '\\\\') : key}\t${value}\t${value + lower}\t${value + upper}\t${String(row[1])}\n`;
      if (buffer.length >= CHUNK_CHARS) {
        const chunk = buffer;
        buffer = '';
        done(null, chunk);
        return;
      }
      done();
    },
    flush(done: TransformCallback) {
      done(null, buffer.length > 0 ? buffer : undefined);
    },
  });

  await pipeline(streamNewestRows(options.client, options.source), toLines, options.target);
  options.onProgress(seen);
  return counts;
}
