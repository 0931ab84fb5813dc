import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type pg from 'pg';
import { z } from 'zod';
import { copyVersionCsv, copyVersionJson, versionPage } from '../db/snapshots.ts';
import type { Version } from '../db/versions.ts';

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
 * Parquet row group (or one COPY chunk) in memory. `counted` sees every byte written and, when
 * known, the rows they hold. Every timestamp is ISO 8601 UTC (`2026-05-01T00:00:00.000Z`); the
 * API and `almanac export` both write through here, so their files are the same bytes.
 */
export async function writeSnapshot(
  client: pg.ClientBase,
  version: Version,
  format: SnapshotFormat,
  out: Writable,
  counted: (bytes: number, rows: number) => void = () => {},
): Promise<void> {
  const versionId = version.id;
  // CSV and NDJSON have a line a row (CSV also its header; a newline inside a quoted key is
  // not a row of its own, so lines only estimate rows there, and the total corrects it)
  const counter = (linesAreRows: boolean) =>
    new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        counted(chunk.length, linesAreRows ? countLines(chunk) : 0);
        done(null, chunk);
      },
    });
  if (format === 'csv') {
    await pipeline(copyVersionCsv(client, versionId), counter(true), out);
  } else if (format === 'ndjson') {
    await pipeline(copyVersionJson(client, versionId), jsonLines(), counter(true), out);
  } else {
    await writeParquet(client, version, counter(false), out, (rows) => counted(0, rows));
  }
}

function countLines(chunk: Buffer): number {
  let lines = 0;
  for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) lines += 1;
  return lines;
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

/**
 * Parquet: `as_of` is a timestamp adjusted to UTC (the LogicalType, beside the legacy converted
 * type), and the file carries the version's model, number, checksum, creation time and lineage as
 * key-value metadata.
 */
async function writeParquet(
  client: pg.ClientBase,
  version: Version,
  counter: Transform,
  out: Writable,
  rowsWritten: (rows: number) => void,
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
      {
        name: 'as_of',
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
        repetition_type: 'OPTIONAL',
      },
    ],
    createdBy: 'almanac',
    kvMetadata: [
      { key: 'model', value: version.model },
      { key: 'version', value: String(version.number) },
      { key: 'checksum', value: version.checksum ?? '' },
      { key: 'created', value: version.createdAt.toISOString() },
      { key: 'lineage', value: JSON.stringify(version.lineage) },
    ],
  });
  let after: string | undefined;
  for (;;) {
    const rows = await versionPage(client, version.id, after, PARQUET_ROW_GROUP);
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
    rowsWritten(rows.length);
    after = rows.at(-1)?.key;
    if (rows.length < PARQUET_ROW_GROUP) break;
  }
  parquet.finish();
  await flush();
  counter.end();
  await finished;
}
