import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { type ShardRef, streamNewestRows } from '../db/scoring.ts';
import type { SourceRef } from '../db/source.ts';
import type { Artifact, Estimator, Interval } from '../model/estimators/types.ts';
import { isValidKey } from '../model/keys.ts';
import { SourceDataError } from '../model/train.ts';
import {
  COPY_BINARY_HEADER,
  COPY_BINARY_TRAILER,
  sourceTimeText,
  tupleEnd,
  tuplesStart,
} from './copy-binary.ts';

export type ScoringCounts = {
  rows: number;
  /** newest rows with a null or non-finite feature (or a non-finite prediction) */
  skippedRows: number;
  /** keys that are empty, longer than 256 characters or hold control characters */
  skippedKeys: number;
};

const OUT_CHUNK = 64 * 1024;
/** key, value, lower, upper, as_of: the columns `writePartition` (src/db/partitions.ts) COPYs */
const OUT_FIELDS = 5;
const FLOAT8_BYTES = 8;

/**
 * Scores the newest row of every key and writes `key, value, lower, upper, as_of` tuples in COPY's
 * binary format into `target`, with backpressure all the way: memory does not grow with the keys.
 * Lower and upper are written equal to the value: the interval is added as the tuples are COPYed
 * (withInterval), since a refresh measures it while it scores.
 *
 * The tuples are handled as bytes: the key and time are copied from the input tuple to the output
 * tuple as they came, the features are read and the estimates written as the doubles they are.
 * A million keys then make almost no garbage, which keeps the worker's memory flat.
 */
export async function scoreNewestRows(options: {
  client: pg.ClientBase;
  source: SourceRef;
  /** a sharded run's child scores only its shard's keys */
  shard?: ShardRef | undefined;
  estimator: Estimator<unknown, Artifact>;
  artifact: Artifact;
  target: Writable;
  onProgress: (rows: number) => void;
}): Promise<ScoringCounts> {
  const { estimator, artifact, source } = options;
  const featureCount = source.features.length;
  // key, as_of, duplicates, then the features (src/db/scoring.ts)
  const inFields = 3 + featureCount;
  const counts: ScoringCounts = { rows: 0, skippedRows: 0, skippedKeys: 0 };
  const features = new Float64Array(featureCount);
  let pending: Buffer | undefined;
  let started = false;
  let ended = false;
  let seen = 0;
  let out = Buffer.allocUnsafe(OUT_CHUNK);
  let at = COPY_BINARY_HEADER.copy(out, 0);
  const ready: Buffer[] = [];

  const reserve = (bytes: number) => {
    if (at + bytes <= out.length) return;
    if (at > 0) ready.push(out.subarray(0, at));
    out = Buffer.allocUnsafe(Math.max(OUT_CHUNK, bytes));
    at = 0;
  };
  const writeFloat8 = (value: number) => {
    out.writeInt32BE(FLOAT8_BYTES, at);
    out.writeDoubleBE(value, at + 4);
    at += 4 + FLOAT8_BYTES;
  };

  /** Scores the tuple that starts at input[start] (tupleEnd has checked that it is whole). */
  const scoreTuple = (input: Buffer, start: number) => {
    if (input.readInt16BE(start) !== inFields) {
      throw new Error(`the scoring query sent ${input.readInt16BE(start)} fields, not ${inFields}`);
    }
    seen += 1;
    if (seen % 50_000 === 0) options.onProgress(seen);
    const keyStart = start + 6;
    const keyEnd = keyStart + input.readInt32BE(start + 2);
    const timeStart = keyEnd + 4;
    const duplicates = input.readInt32BE(timeStart + 12);
    if (duplicates !== 1) {
      throw new SourceDataError(
        `duplicate key "${input.toString('utf8', keyStart, keyEnd)}": ${duplicates} source rows at its newest time ${sourceTimeText(input, timeStart, source.timeType)}`,
      );
    }
    if (!keyIsServable(input, keyStart, keyEnd)) {
      counts.skippedKeys += 1;
      return;
    }
    let usable = true;
    let field = timeStart + 16;
    for (let j = 0; j < featureCount; j += 1) {
      const length = input.readInt32BE(field);
      // NULL, NaN and ±Infinity all fail isFinite
      const value = length === FLOAT8_BYTES ? input.readDoubleBE(field + 4) : Number.NaN;
      features[j] = value;
      usable &&= Number.isFinite(value);
      field += 4 + Math.max(length, 0);
    }
    const value = usable ? estimator.predict(artifact, features) : Number.NaN;
    if (!Number.isFinite(value)) {
      counts.skippedRows += 1;
      return;
    }
    counts.rows += 1;
    reserve(2 + (4 + keyEnd - keyStart) + 4 * (4 + FLOAT8_BYTES));
    out.writeInt16BE(OUT_FIELDS, at);
    // the key's length and bytes, as they came
    at += 2 + input.copy(out, at + 2, keyStart - 4, keyEnd);
    writeFloat8(value);
    writeFloat8(value);
    writeFloat8(value);
    // the time's length and its 8 bytes, as they came
    at += input.copy(out, at, timeStart - 4, timeStart + 8);
  };

  /** Scores every whole tuple of `input`; what is left over waits for the next chunk. */
  const scoreTuples = (input: Buffer) => {
    let start = 0;
    if (!started) {
      start = tuplesStart(input);
      if (start < 0) return input;
      started = true;
    }
    for (let end = tupleEnd(input, start); end >= 0 && !ended; end = tupleEnd(input, start)) {
      if (input.readInt16BE(start) === -1) ended = true;
      else scoreTuple(input, start);
      start = end;
    }
    return start < input.length ? Buffer.from(input.subarray(start)) : undefined;
  };

  const toTuples = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      try {
        pending = scoreTuples(pending === undefined ? chunk : Buffer.concat([pending, chunk]));
      } catch (error) {
        done(error as Error);
        return;
      }
      for (const buffer of ready.splice(0)) this.push(buffer);
      done();
    },
    flush(done: TransformCallback) {
      if (!ended || pending !== undefined) {
        done(new Error('the scoring query ended in the middle of its COPY data'));
        return;
      }
      reserve(COPY_BINARY_TRAILER.length);
      at += COPY_BINARY_TRAILER.copy(out, at);
      for (const buffer of ready.splice(0)) this.push(buffer);
      done(null, out.subarray(0, at));
    },
  });

  await pipeline(streamNewestRows(options.client, source, options.shard), toTuples, options.target);
  options.onProgress(seen);
  return counts;
}

/**
 * Adds the interval to the tuples scoreNewestRows wrote, in place, on their way to COPY: lower is
 * value + interval.lower and upper value + interval.upper, the same doubles as if they had been
 * added at scoring.
 */
export function withInterval(interval: Interval): Transform {
  let pending: Buffer | undefined;
  let started = false;
  const patch = (input: Buffer): number => {
    let start = 0;
    if (!started) {
      start = tuplesStart(input);
      if (start < 0) return 0;
      started = true;
    }
    for (let end = tupleEnd(input, start); end >= 0; end = tupleEnd(input, start)) {
      if (input.readInt16BE(start) === OUT_FIELDS) {
        const value = start + 2 + 4 + input.readInt32BE(start + 2) + 4;
        const number = input.readDoubleBE(value);
        input.writeDoubleBE(number + interval.lower, value + 4 + FLOAT8_BYTES);
        input.writeDoubleBE(number + interval.upper, value + 2 * (4 + FLOAT8_BYTES));
      }
      start = end;
    }
    return start;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      const input = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      const whole = patch(input);
      pending = whole < input.length ? Buffer.from(input.subarray(whole)) : undefined;
      done(null, whole > 0 ? input.subarray(0, whole) : undefined);
    },
    flush(done: TransformCallback) {
      done(null, pending);
    },
  });
}

/**
 * Whether the key in input[start, end) (UTF-8) can be served: 1 to 256 characters without control
 * or invisible characters. A key of printable ASCII is checked as bytes, any other as text.
 */
function keyIsServable(input: Buffer, start: number, end: number): boolean {
  if (end === start) return false;
  let plainAscii = end - start <= 256;
  for (let i = start; i < end && plainAscii; i += 1) {
    const byte = input[i] ?? 0;
    plainAscii = byte >= 0x20 && byte < 0x7f;
  }
  return plainAscii || isValidKey(input.toString('utf8', start, end));
}
