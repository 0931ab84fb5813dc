import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useConnections, useFileRedisPrefix, useTempFiles, useTestDatabase } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';
import { startBin } from './helpers/spawn.ts';
import { waitFor } from './helpers/worker-process.ts';

const database = useTestDatabase('api_snapshots');
const { db, runtime } = useConnections(database);
// one Redis prefix for the file, also the CLI's (ALMANAC_REDIS_PREFIX)
const prefix = useFileRedisPrefix().current;
const BIG = 300_000;
const files = useTempFiles('snapshots');
let api: TestApi;

beforeAll(async () => {
  await applySpec(db(), { name: 'small', estimator: 'external' });
  await applySpec(db(), { name: 'big', estimator: 'external' });
  await importCsv(
    runtime(),
    'small',
    readableOf('key,value,lower,upper\nb\\x,2,1,3\n"a,1",1.5,,\nZürich,-3,-4,-2\n'),
    'test',
  );
  const lines = ['key,value'];
  for (let i = 0; i < BIG; i += 1) lines.push(`key-${String(i).padStart(7, '0')},${i}`);
  await importCsv(runtime(), 'big', readableOf(`${lines.join('\n')}\n`), 'test');
  api = await startTestApi(database.url, prefix);
}, 120_000);
afterAll(async () => {
  await api?.close();
});

describe('GET /v1/models/:model/versions/:version/snapshot', () => {
  it('streams CSV in key (byte) order with a header and a file name', async () => {
    const res = await api.request('/v1/models/small/versions/1/snapshot');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="small-v1.csv"');
    expect(res.headers.get('estimate-version')).toBe('1');
    expect(await res.text()).toBe(
      'key,value,lower,upper,as_of\nZürich,-3,-4,-2,\n"a,1",1.5,,,\nb\\x,2,1,3,\n',
    );
  });

  it('streams NDJSON, one estimate a line, with keys intact', async () => {
    const res = await api.request('/v1/models/small/versions/latest/snapshot?format=ndjson');
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      { key: 'Zürich', value: -3, lower: -4, upper: -2, asOf: null },
      { key: 'a,1', value: 1.5, lower: null, upper: null, asOf: null },
      { key: 'b\\x', value: 2, lower: 1, upper: 3, asOf: null },
    ]);
  });

  it('streams Parquet in row groups that a reader reads back', async () => {
    const res = await api.request('/v1/models/big/versions/latest/snapshot?format=parquet');
    expect(res.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    const bytes = await res.arrayBuffer();
    const rows = (await parquetReadObjects({ file: bytes })) as { key: string; value: number }[];
    expect(rows).toHaveLength(BIG);
    expect(rows[0]).toMatchObject({ key: 'key-0000000', value: 0 });
    expect(rows.at(-1)).toMatchObject({ key: `key-${String(BIG - 1).padStart(7, '0')}`, value: BIG - 1 });
  });

  it('refuses an unknown format and unknown versions', async () => {
    const res = await api.json('/v1/models/small/versions/1/snapshot?format=xlsx');
    expect(res).toMatchObject({ status: 400, body: { errors: [{ path: 'query.format' }] } });
    expect((await api.json('/v1/models/small/versions/7/snapshot')).status).toBe(404);
  });

  it('releases the connection at once when the client goes away mid-stream', async () => {
    const controller = new AbortController();
    const res = await api.request('/v1/models/big/versions/1/snapshot?format=ndjson', {
      signal: controller.signal,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    const copying = async () => {
      const { rows } = await sql<{ n: string }>`
        SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'COPY (SELECT json_build_object%' AND state = 'active'`.execute(
        db(),
      );
      return rows[0]?.n;
    };
    expect(await copying()).toBe('1');
    controller.abort();
    await waitFor(async () => ((await copying()) === '0' ? true : undefined), 5_000, 'the COPY to end');
    // and it is counted
    const metrics = await (await api.request('/metrics')).text();
    expect(metrics).toMatch(
      /almanac_http_requests_aborted_total\{method="GET",route="\/v1\/models\/:model\/versions\/:version\/snapshot"\} 1/,
    );
    // and the API still answers
    expect((await api.request('/v1/models/small/versions/1/snapshot')).status).toBe(200);
  });
});

describe('almanac export', () => {
  it('writes the same snapshot from the CLI', async () => {
    const run = await runCli('export', 'small', '--format', 'csv');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('key,value,lower,upper,as_of\nZürich,-3,-4,-2,\n"a,1",1.5,,,\nb\\x,2,1,3,\n');
    expect((await runCli('export', 'small', '--format', 'xml')).code).toBe(2);
    expect((await runCli('export', 'ghost')).code).toBe(1);
  });

  it('stops quietly when its reader leaves, as `almanac export big | head -1` does', async () => {
    const running = startBin(['export', 'big'], { DATABASE_URL: database.url, ALMANAC_REDIS_PREFIX: prefix });
    running.child.stdout?.once('data', () => running.child.stdout?.destroy());
    expect(await running.exited).toBe(0);
    expect(running.stderr()).not.toMatch(/reach|EPIPE|Error/);
  });

  it('says in one line, before reading a row, that --out cannot be written', async () => {
    const run = await runCli('export', 'small', '--out', path.join(tmpdir(), 'almanac-no-such-dir', 'f.csv'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^--out: .*f\.csv cannot be written \(ENOENT\)\n$/);
  });
});

describe('every export of a version', () => {
  const timed =
    'key,value,lower,upper,as_of\nA,1,0,2,2026-05-01\nB,2.5,,,2026-05-01T16:30:00.123+02:00\nC,3,2,4,\n';
  const instants = ['2026-05-01T00:00:00.000Z', '2026-05-01T14:30:00.123Z', null];

  it('writes as_of as ISO 8601 UTC with a Z, in JSON, NDJSON, CSV and Parquet alike', async () => {
    await applySpec(db(), { name: 'timed', estimator: 'external' });
    await importCsv(runtime(), 'timed', readableOf(timed), 'test');
    // imported outside the API: it learns of the version by the database's notification
    await expect.poll(() => api.catalog.model('timed')?.published?.number, { timeout: 10_000 }).toBe(1);
    const lookups = await Promise.all(
      ['A', 'B', 'C'].map((key) => api.json(`/v1/models/timed/estimates/${key}`)),
    );
    expect(lookups.map((res) => res.body.asOf)).toEqual(instants);
    const batch = await api.post('/v1/models/timed/estimates/batch', { keys: ['A', 'B', 'C'] });
    expect(batch.body.estimates.map((e: { asOf: string | null }) => e.asOf)).toEqual(instants);
    const csv = await (await api.request('/v1/models/timed/versions/1/snapshot')).text();
    expect(csv).toBe(
      'key,value,lower,upper,as_of\nA,1,0,2,2026-05-01T00:00:00.000Z\nB,2.5,,,2026-05-01T14:30:00.123Z\nC,3,2,4,\n',
    );
    const ndjson = await (await api.request('/v1/models/timed/versions/1/snapshot?format=ndjson')).text();
    expect(
      ndjson
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).asOf),
    ).toEqual(instants);

    const parquet = await (
      await api.request('/v1/models/timed/versions/1/snapshot?format=parquet')
    ).arrayBuffer();
    const metadata = parquetMetadata(parquet);
    expect(metadata.schema.find((element) => element.name === 'as_of')).toMatchObject({
      type: 'INT64',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    });
    const kv = Object.fromEntries((metadata.key_value_metadata ?? []).map(({ key, value }) => [key, value]));
    const detail = (await api.json('/v1/models/timed/versions/1')).body;
    expect(kv).toMatchObject({
      model: 'timed',
      version: '1',
      checksum: detail.checksum,
      created: detail.createdAt,
    });
    expect(JSON.parse(kv.lineage ?? '{}')).toMatchObject({ import: { rows: 3, asOf: true } });
    const rows = (await parquetReadObjects({ file: parquet })) as { as_of: Date | null }[];
    expect(rows.map((row) => row.as_of?.toISOString() ?? null)).toEqual(instants);
  });

  it('gives the same bytes from the CLI as from the API (CSV, NDJSON, Parquet), counting them truly', async () => {
    for (const format of ['csv', 'ndjson', 'parquet']) {
      const out = await files.write(`timed.${format}`, '');
      const run = await runCli('export', 'timed', '--version', '1', '--format', format, '--out', out);
      expect(run.code).toBe(0);
      const written = await readFile(out);
      const served = Buffer.from(
        await (await api.request(`/v1/models/timed/versions/1/snapshot?format=${format}`)).arrayBuffer(),
      );
      expect(written.equals(served), format).toBe(true);
      const { size } = await stat(out);
      expect(run.stderr).toContain(`wrote 3 rows of timed v1 to ${out} (${size} bytes)`);
      expect(run.stderr).toMatch(/export timed v1: 100% \(3\/3 rows\)/);
    }
  });

  it('exports held and rejected versions, and says so when a version was pruned', async () => {
    await applySpec(db(), { name: 'kept', estimator: 'external', retention: { keepVersions: 1 } });
    await importCsv(runtime(), 'kept', readableOf('key,value\nA,1\nB,2\n'), 'test');
    // everything moved: the gate holds it
    const held = await importCsv(runtime(), 'kept', readableOf('key,value\nA,100\nB,200\n'), 'test');
    expect(held.state).toBe('held');
    const heldCsv = await runCli('export', 'kept', '--version', '2');
    expect(heldCsv).toMatchObject({ code: 0, stdout: 'key,value,lower,upper,as_of\nA,100,,,\nB,200,,,\n' });
    expect((await runCli('reject', 'kept', '2')).code).toBe(0);
    expect((await runCli('export', 'kept', '--version', '2')).stdout).toBe(heldCsv.stdout);
    expect(await (await api.request('/v1/models/kept/versions/2/snapshot')).text()).toBe(heldCsv.stdout);
    // retention after an import's publish: keep 1, so version 1 is pruned once 3 is published
    const third = await importCsv(runtime(), 'kept', readableOf('key,value\nA,1\nB,2\n'), 'test');
    expect(third.state).toBe('published');
    expect((await api.json('/v1/models/kept/versions/1')).body.state).toBe('pruned');
    const gone = await runCli('export', 'kept', '--version', '1');
    expect(gone).toMatchObject({ code: 1, stdout: '' });
    expect(gone.stderr).toBe('version 1 of "kept" was pruned by retention; its estimates are gone\n');
    expect((await api.json('/v1/models/kept/versions/1/snapshot')).status).toBe(410);
  });
});

describe('almanac serve', () => {
  it('drains on SIGTERM: the request in flight completes, then the process exits 0', async () => {
    const server = startBin(['serve'], {
      DATABASE_URL: database.url,
      PORT: '0',
      ALMANAC_AUTH: 'off',
      ALMANAC_REDIS_PREFIX: prefix,
      LOG_LEVEL: 'warn',
    });
    const url = await waitFor(
      async () => /listening on (http:\/\/\S+)/.exec(server.stdout())?.[1],
      20_000,
      'the API to listen',
      50,
    );
    const response = await fetch(`${url}/v1/models/big/versions/1/snapshot?format=ndjson`);
    expect(response.status).toBe(200);
    const exited = server.stop();
    const body = await response.text();
    expect(body.trim().split('\n')).toHaveLength(BIG);
    expect(await exited).toBe(0);
  });
});
