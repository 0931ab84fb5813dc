import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type pg from 'pg';
import { z } from 'zod';
import { copyVersionCsv, copyVersionJson, versionPage } from '../db/snapshots.ts';

export const SNAPSHOT_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
export type SnapshotFormat = (typeof SNAPSHOT_FORMATS)[number];
export const snapshotFormat = z.enum(SNAPSHOT_FORMATS, { error: 'must be csv, ndjson or parquet' });

export const contentTypes: Record<SnapshotFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
};

const PARQUET_ROW_GROUP = 100_000;

/**
 * Streams a whole version into `out` with backpressure all the way, never holding more than one
 * Parquet row group (or one COPY chunk) in memory. `counted` sees every byte written.
 */
export async function writeSnapshot(
  client: pg.ClientBase,
  versionId: string,
  format: SnapshotFormat,
  out: Writable,
  counted: (bytes: number) => void = () => {},
): Promise<void> {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      counted(chunk.length);
      done(null, chunk);
    },
  });
  if (format === 'csv') {
    await pipeline(copyVersionCsv(client, versionId), counter, out);
  } else if (format === 'ndjson') {
    await pipeline(copyVersionJson(client, versionId), jsonLines(), counter, out);
  } else {
    await writeParquet(client, versionId, counter, out);
  }
}

/**
 * COPY text doubles every backslash; JSON built by Postgres holds no raw control characters,
 * so halving them back is all the unescaping needed. A chunk that ends inside a pair carries it.
 */
function jsonLines(): Transform {
  let carried = '';
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      let text = carried + chunk.toString('latin1');
      carried = '';
      let trailing = 0;
      while (trailing < text.length && text[text.length - 1 - trailing] === '\\') trailing += 1;
      if (trailing % 2 === 1) {
        carried = '\\';
        text = text.slice(0, -1);
      }
      done(null, Buffer.from(text.replaceAll('\\\\', '\\'), 'latin1'));
    },
    flush(done: TransformCallback) {
      done(null, carried === '' ? undefined : Buffer.from(carried, 'latin1'));
    },
  });
}

async function writeParquet(
  client: pg.ClientBase,
  versionId: string,
  counter: Transform,
  out: Writable,
): Promise<void> {
  const finished = pipeline(counter, out);
  const writer = new ByteWriter();
  // Each finished row group leaves for the client at once; the next waits for the socket to drain.
  const flush = async () => {
    if (writer.index === 0) return;
    const chunk = Buffer.from(new Uint8Array(writer.buffer, 0, writer.index));
    writer.index = 0;
    if (!counter.write(chunk)) await new Promise((resolve) => counter.once('drain', resolve));
  };
  Object.assign(writer, { flush });
  const parquet = new ParquetWriter({
    writer,
    schema: [
      { name: 'root', num_children: 5 },
      { name: 'key', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'value', type: 'DOUBLE', repetition_type: 'REQUIRED' },
      { name: 'lower', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'upper', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'as_of', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'OPTIONAL' },
    ],
    createdBy: 'almanac',
  });
  let after: string | undefined;
  for (;;) {
    const rows = await versionPage(client, versionId, after, PARQUET_ROW_GROUP);
    if (rows.length === 0) break;
    await parquet.write({
      rowGroupSize: rows.length,
      columnData: [
        { name: 'key', data: rows.map((row) => row.key) },
        { name: 'value', data: rows.map((row) => row.value) },
        { name: 'lower', data: rows.map((row) => row.lower) },
        { name: 'upper', data: rows.map((row) => row.upper) },
        {
          name: 'as_of',
          data: rows.map((row) => (row.as_of_ms === null ? null : BigInt(Math.round(row.as_of_ms)))),
        },
      ],
    });
    await flush();
    after = rows.at(-1)?.key;
    if (rows.length < PARQUET_ROW_GROUP) break;
  }
  parquet.finish();
  await flush();
  counter.end();
  await finished;
}
