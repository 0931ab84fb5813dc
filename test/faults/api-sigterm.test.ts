import autocannon from 'autocannon';
import { beforeAll, describe, expect, it } from 'vitest';
import { importCsv, readableOf } from '../../src/imports/import-csv.ts';
import { useTestSetup } from '../helpers/hooks.ts';
import { applySpec } from '../helpers/pipeline.ts';
import { startBin } from '../helpers/spawn.ts';
import { waitFor } from '../helpers/worker-process.ts';

/**
 * `almanac serve` stopped with SIGTERM under keep-alive load (autocannon, as bench/api.ts drives
 * it): requests in flight complete, each connection's next answer says `Connection: close`
 * instead of the connection being reset, and the process exits within 2 s of its last answer.
 * Only new connections, made after the port closed, may fail (refused).
 */

const { database, db, runtime } = useTestSetup('api-sigterm');
const KEYS = 2_000;

beforeAll(async () => {
  await applySpec(db(), { name: 'ext', estimator: 'external' });
  const lines = ['key,value'];
  for (let i = 0; i < KEYS; i += 1) lines.push(`k${i},${i}`);
  await importCsv(runtime(), 'ext', readableOf(`${lines.join('\n')}\n`), 'test');
});

/** A header of a flat [name, value, ...] list, as autocannon's parser gives them. */
function headerOf(flat: unknown, name: string): string | undefined {
  if (!Array.isArray(flat)) return undefined;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (String(flat[i]).toLowerCase() === name) return String(flat[i + 1]);
  }
  return undefined;
}

describe('SIGTERM during load', () => {
  it('drains: in-flight answers complete, keep-alive connections are told to close, the process exits within 2 s of its last answer', async () => {
    const server = startBin(['serve'], {
      DATABASE_URL: database.url,
      PORT: '0',
      LOG_LEVEL: 'warn',
      ALMANAC_AUTH: 'off',
      ALMANAC_RATE_LIMIT: '0',
    });
    const url = await waitFor(
      async () => /listening on (http:\/\/\S+)/.exec(server.stdout())?.[1],
      20_000,
      'serve',
    );
    const statuses = new Map<number, number>();
    const errors = new Map<string, number>();
    let closes = 0;
    let lastAnswer = 0;
    let answersBeforeStop = 0;
    let stopping = false;
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const load = autocannon(
      {
        url,
        connections: 16,
        duration: 8,
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              path: `/v1/models/ext/estimates/k${Math.floor(Math.random() * KEYS)}`,
            }),
          },
        ],
        setupClient: (client) => {
          // autocannon's client emits its parser's heads; its types leave the event out
          (client as unknown as NodeJS.EventEmitter).on('headers', (head: { headers?: unknown }) => {
            if (headerOf(head.headers, 'connection') === 'close') closes += 1;
          });
        },
      },
      () => finish(),
    );
    load.on('response', (_client, status) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      lastAnswer = performance.now();
      if (!stopping) answersBeforeStop += 1;
    });
    load.on('reqError', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      errors.set(code, (errors.get(code) ?? 0) + 1);
    });

    await new Promise((resolve) => setTimeout(resolve, 2_500));
    stopping = true;
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const exitedAt = performance.now();
    load.stop();
    await finished;

    const resets = [...errors].filter(([name]) => name !== 'ECONNREFUSED');
    const report = {
      statuses: Object.fromEntries(statuses),
      errors: Object.fromEntries(errors),
      closes,
      answersBeforeStop,
      exitAfterLastAnswerMs: Math.round(exitedAt - lastAnswer),
    };
    console.log(`SIGTERM under load: ${JSON.stringify(report)}`);
    expect(code, server.output()).toBe(0);
    expect(answersBeforeStop).toBeGreaterThan(100);
    expect([...statuses.keys()]).toEqual([200]);
    expect(resets, JSON.stringify(report)).toEqual([]);
    // every connection that was open got its last answer with `Connection: close`
    expect(closes).toBeGreaterThan(0);
    // a bound the issue sets on draining (not a speed measurement): exit within 2 s of the last answer
    expect(exitedAt - lastAnswer).toBeLessThan(2_000);
  });
});
