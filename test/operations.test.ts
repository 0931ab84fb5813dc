import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { startTestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useConnections, useFileRedisPrefix, useMarket, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, demoSpec, startPipeline } from './helpers/pipeline.ts';
import { runBin, startBin } from './helpers/spawn.ts';
import { waitFor } from './helpers/worker-process.ts';

const database = useTestDatabase('operations');
const { db, pool } = useConnections(database);
const prefix = useFileRedisPrefix();
useMarket({ pool }, { keys: 60, days: 30, seed: 12 });

beforeAll(async () => {
  await applySpec(db(), demoSpec({ name: 'ops' }));
});

/** The keys of a JSON object's top level as written, repeats included (JSON.parse keeps the last). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i];
    if (char === '"') {
      let end = i + 1;
      while (end < line.length && line[end] !== '"') end += line[end] === '\\' ? 2 : 1;
      if (depth === 1 && line[end + 1] === ':') keys.push(JSON.parse(line.slice(i, end + 1)) as string);
      i = end;
    } else if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
  }
  return keys;
}

describe('processes fail loudly and clearly', () => {
  it('serve on a busy port exits 1 with one line', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const run = await runBin(['serve'], {
        DATABASE_URL: database.url,
        PORT: String(port),
        LOG_LEVEL: 'warn',
      });
      expect(run).toEqual({
        code: 1,
        stdout: '',
        stderr: `port ${port} on 127.0.0.1 is already in use; stop what listens there or choose another\n`,
      });
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it('serve listens on 127.0.0.1 unless HOST says otherwise', async () => {
    const server = startBin(['serve'], { DATABASE_URL: database.url, PORT: '0', LOG_LEVEL: 'warn' });
    try {
      const url = await waitFor(async () => /listening on (\S+)/.exec(server.stdout())?.[1], 20_000, 'serve');
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it('says in one line, at once, that Redis is down when a run is requested', async () => {
    const started = performance.now();
    const baseline = await runBin(['--version']);
    const startup = performance.now() - started;
    expect(baseline.code).toBe(0);
    const requested = performance.now();
    const run = await runBin(['run', 'ops'], {
      DATABASE_URL: database.url,
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    const took = performance.now() - requested;
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cannot reach Redis at 127.0.0.1:1 (REDIS_URL); is it running?\n',
    });
    // beyond starting Node and loading the CLI, which --version measured
    expect(took - startup).toBeLessThan(2_000);
    expect(await sql`SELECT 1 FROM runs WHERE model = 'ops'`.execute(db()).then((r) => r.rows)).toEqual([]);
  });

  it('run --wait says at once when no worker is connected, how to start one, and keeps waiting', async () => {
    const run = await runCli('run', 'ops', '--wait', '--timeout', '1');
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe(
      `no worker is connected to the queue (prefix "${prefix.current}"); start one with \`npx almanac worker\` — waiting for it`,
    );
    expect(lines.at(-1)).toMatch(/^gave up waiting after 1 s; run \S+ goes on: `almanac runs ops`$/);
    // a worker that starts later takes the run over
    const pipeline = await startPipeline(database.url, prefix.current);
    try {
      const queued = /run (\S+) goes on/.exec(run.stderr)?.[1] ?? '';
      await waitFor(
        async () =>
          (await sql<{ state: string }>`SELECT state FROM runs WHERE id = ${queued}::uuid`.execute(db()))
            .rows[0]?.state === 'succeeded'
            ? true
            : undefined,
        60_000,
        'the run to complete',
      );
    } finally {
      await pipeline.close();
    }
  });
});

describe('logs', () => {
  it('never carry a key twice, through a publish, a hold, a failure, an import and API requests', async () => {
    const lines: string[] = [];
    const capture = new PassThrough();
    capture.on('data', (chunk: Buffer) =>
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      ),
    );
    const logger = createLogger({ logLevel: 'debug', logFormat: 'json' }, { destination: capture });
    // a webhook that refuses, so the hold logs its alert attempts too
    const hook = createServer((req: IncomingMessage, res) => {
      req.resume();
      res.statusCode = 500;
      res.end();
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    const pipeline = await startPipeline(database.url, prefix.current, { logger });
    const api = await startTestApi(database.url, prefix.current, { logger });
    try {
      // a copy of the market of its own, whose column can go missing to make a run fail
      await sql`CREATE TABLE demo.logged AS SELECT * FROM demo.daily_prices`.execute(db());
      const source = { ...demoSpec().source, table: 'demo.logged' };
      await applySpec(db(), demoSpec({ name: 'logged', source }));
      expect((await pipeline.refresh('logged')).state).toBe('succeeded');
      await applySpec(
        db(),
        demoSpec({ name: 'logged', source, drift: { minRows: 1e6 }, alerts: { webhookUrl: hookUrl } }),
      );
      expect((await pipeline.refresh('logged')).state).toBe('succeeded');
      await sql`ALTER TABLE demo.logged RENAME COLUMN ma_5 TO ma_five`.execute(db());
      expect((await pipeline.refresh('logged')).state).toBe('failed');
      await api.post('/v1/models/logged/versions/2/reject', { reason: 'logged' });
      await api.json('/v1/models/logged/versions');
      await api.json('/v1/models/nope');
      await api.request('/v1/models/logged/estimates/%E0%A4%A');
    } finally {
      await api.close();
      await pipeline.close();
      await new Promise((resolve) => hook.close(resolve));
    }
    expect(lines.length).toBeGreaterThan(10);
    const repeated = lines.flatMap((line) => {
      const keys = topLevelKeys(line);
      return keys.length === new Set(keys).size ? [] : [line];
    });
    expect(repeated).toEqual([]);
    expect(lines.some((line) => line.includes('the drift gate held version 2 back'))).toBe(true);
  });

  it('are human-readable lines on a terminal and JSON elsewhere, or as LOG_FORMAT says', () => {
    const write = (options: { terminal: boolean; format?: 'json' | 'pretty' }) => {
      const out: string[] = [];
      const stream = new PassThrough();
      stream.on('data', (chunk: Buffer) => out.push(chunk.toString()));
      const logger = createLogger(
        { logLevel: 'info', logFormat: options.format },
        { terminal: options.terminal, destination: stream },
      );
      logger.info({ model: 'm' }, 'published version 2');
      return out.join('');
    };
    const onTerminal = write({ terminal: true });
    expect(onTerminal).not.toMatch(/^\{/);
    expect(onTerminal).toMatch(/INFO.*published version 2/);
    expect(onTerminal).toContain('model: "m"');
    expect(JSON.parse(write({ terminal: false }))).toMatchObject({ model: 'm', msg: 'published version 2' });
    expect(JSON.parse(write({ terminal: true, format: 'json' }))).toMatchObject({
      msg: 'published version 2',
    });
  });
});

describe('the scheduler process', () => {
  it("logs each model's next run on start and serves /healthz and /metrics with the next run per model", async () => {
    const scheduler = startBin(['scheduler'], {
      DATABASE_URL: database.url,
      ALMANAC_REDIS_PREFIX: prefix.current,
      ALMANAC_SCHEDULER_METRICS_PORT: '0',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
    });
    try {
      const url = await waitFor(
        async () => /"url":"(http:\/\/[^"]+)\/metrics"/.exec(scheduler.stderr())?.[1],
        20_000,
        'the scheduler to serve its metrics',
      );
      const scheduled = await waitFor(
        async () => /^.*"model":"ops".*scheduled; next run.*$/m.exec(scheduler.stderr())?.[0],
        20_000,
        'the scheduler to schedule ops',
      );
      expect(scheduled).toMatch(/"nextRun":"\d{4}-\d{2}-\d{2}T02:00:00\.000Z"/);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const next = Number(
        /almanac_scheduler_next_run_timestamp_seconds\{model="ops"\} (\d+)/.exec(metrics)?.[1],
      );
      expect(next * 1000).toBeGreaterThan(Date.now());
      expect(next * 1000).toBeLessThanOrEqual(Date.now() + 24 * 3600 * 1000);
      expect(metrics).toContain('almanac_scheduler_process_cpu_seconds_total');
    } finally {
      await scheduler.stop();
    }
    expect(await scheduler.exited).toBe(0);
  });
});
