import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { type ShardRef, streamNewestRows } from '../db/scoring.ts';
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

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const OUT_CHUNK = 64 * 1024;

/**
 * Scores the newest row of every key and writes `key\tvalue\tlower\tupper\tas_of` lines (COPY
 * text format) into `target`, with backpressure all the way: memory does not grow with the keys.
 *
 * The lines are handled as bytes: the key and time are copied from the input line to the output
 * line as COPY escaped them, and only the feature fields become (small) strings. A million keys
 * then make little garbage, which keeps the worker's memory flat.
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
  const { estimator, artifact } = options;
  const { lower, upper } = artifact.interval;
  const featureCount = options.source.features.length;
  const counts: ScoringCounts = { rows: 0, skippedRows: 0, skippedKeys: 0 };
  const features = new Float64Array(featureCount);
  const fieldEnds = new Int32Array(3 + featureCount);
  let pending: Buffer | undefined;
  let seen = 0;
  let out = Buffer.allocUnsafe(OUT_CHUNK);
  let at = 0;
  const ready: Buffer[] = [];

  const reserve = (bytes: number) => {
    if (at + bytes <= out.length) return;
    if (at > 0) ready.push(out.subarray(0, at));
    out = Buffer.allocUnsafe(Math.max(OUT_CHUNK, bytes));
    at = 0;
  };

  /** Scores the line in input[start, end) (without its newline). */
  const scoreLine = (input: Buffer, start: number, end: number) => {
    seen += 1;
    if (seen % 50_000 === 0) options.onProgress(seen);
    let field = 0;
    for (let i = start; i < end && field < fieldEnds.length - 1; i += 1) {
      if (input[i] === TAB) fieldEnds[field++] = i;
    }
    fieldEnds[field] = end;
    const keyEnd = fieldEnds[0] ?? end;
    const timeEnd = fieldEnds[1] ?? end;
    const duplicates = input.toString('latin1', timeEnd + 1, fieldEnds[2] ?? end);
    if (duplicates !== '1') {
      const key = decodeCopyText(input.toString('utf8', start, keyEnd));
      throw new SourceDataError(
        `duplicate key "${key}": ${duplicates} source rows at its newest time ${input.toString('latin1', keyEnd + 1, timeEnd)}`,
      );
    }
    if (!keyIsServable(input, start, keyEnd)) {
      counts.skippedKeys += 1;
      return;
    }
    let usable = true;
    for (let j = 0; j < featureCount; j += 1) {
      // \N (null), NaN and ±Infinity all fail isFinite
      const value = Number(input.toString('latin1', (fieldEnds[2 + j] ?? end) + 1, fieldEnds[3 + j] ?? end));
      features[j] = value;
      usable &&= Number.isFinite(value);
    }
    const value = usable ? estimator.predict(artifact, features) : Number.NaN;
    if (!Number.isFinite(value)) {
      counts.skippedRows += 1;
      return;
    }
    counts.rows += 1;
    reserve(keyEnd - start + (timeEnd - keyEnd) + 80);
    at += input.copy(out, at, start, keyEnd);
    out[at++] = TAB;
    at += out.write(String(value), at, 'latin1');
    out[at++] = TAB;
    at += out.write(String(value + lower), at, 'latin1');
    out[at++] = TAB;
    at += out.write(String(value + upper), at, 'latin1');
    at += input.copy(out, at, keyEnd, timeEnd); // the tab and the time
    out[at++] = NEWLINE;
  };

  const toLines = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      const input = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let start = 0;
      try {
        for (
          let newline = input.indexOf(NEWLINE, start);
          newline >= 0;
          newline = input.indexOf(NEWLINE, start)
        ) {
          scoreLine(input, start, newline);
          start = newline + 1;
        }
      } catch (error) {
        done(error as Error);
        return;
      }
      pending = start < input.length ? Buffer.from(input.subarray(start)) : undefined;
      for (const buffer of ready.splice(0)) this.push(buffer);
      done();
    },
    flush(done: TransformCallback) {
      try {
        if (pending !== undefined && pending.length > 0) scoreLine(pending, 0, pending.length);
      } catch (error) {
        done(error as Error);
        return;
      }
      for (const buffer of ready.splice(0)) this.push(buffer);
      done(null, at > 0 ? out.subarray(0, at) : undefined);
    },
  });

  await pipeline(streamNewestRows(options.client, options.source, options.shard), toLines, options.target);
  options.onProgress(seen);
  return counts;
}

/**
 * Whether the key in input[start, end), as COPY wrote it, can be served: 1 to 256 characters
 * without control characters. COPY escapes backslashes and some control characters; a key with
 * a backslash is decoded first, any other is checked as it is.
 */
function keyIsServable(input: Buffer, start: number, end: number): boolean {
  if (end === start) return false;
  let plainAscii = end - start <= 256;
  for (let i = start; i < end && plainAscii; i += 1) {
    const byte = input[i] ?? 0;
    plainAscii = byte >= 0x20 && byte < 0x7f && byte !== BACKSLASH;
  }
  if (plainAscii) return true;
  const text = input.toString('utf8', start, end);
  return isValidKey(text.includes('\\') ? decodeCopyText(text) : text);
}

const escapes: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** A field of COPY text output as the text it stands for. */
export function decodeCopyText(field: string): string {
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, code: string) => {
    if (code.startsWith('x')) return String.fromCharCode(Number.parseInt(code.slice(1), 16));
    if (/^[0-7]/.test(code)) return String.fromCharCode(Number.parseInt(code, 8));
    return escapes[code] ?? code;
  });
}
