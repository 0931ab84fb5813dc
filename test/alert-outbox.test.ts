import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDueAlert } from '../src/db/alert-outbox.ts';
import { deliverDueAlerts, queueAlert } from '../src/drift/alerts.ts';
import { useConnections, useTestDatabase } from './helpers/hooks.ts';
import { silentLogger } from './helpers/pipeline.ts';

const database = useTestDatabase('alert-outbox');
const { db } = useConnections(database);

/** A webhook receiver answering with the statuses queued in `answers` (204 when none is left). */
const received: { eventId: string | undefined; body: Record<string, unknown> }[] = [];
const answers: number[] = [];
let hook: Server;
let spec: { name: string; alerts: { webhookUrl: string } };

beforeAll(async () => {
  hook = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        eventId: req.headers['almanac-event-id'] as string | undefined,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      res.statusCode = answers.shift() ?? 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  spec = {
    name: 'alerted',
    alerts: { webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` },
  };
  // the outbox only needs the model's row, not a source to refresh from
  await sql`INSERT INTO models (name, spec) VALUES ('alerted', '{}')`.execute(db());
});
afterAll(async () => {
  await new Promise((resolve) => hook.close(resolve));
});
beforeEach(async () => {
  received.length = 0;
  answers.length = 0;
  await sql`DELETE FROM alert_outbox`.execute(db());
});

const outbox = () =>
  db()
    .selectFrom('alert_outbox')
    .select(['id', 'attempts', 'delivered_at', 'failed_at', 'last_error'])
    .execute();

describe('the alert outbox', () => {
  it('delivers an alert once, its event id in the body and a header, even to two deliverers at once', async () => {
    await queueAlert(db(), spec, { event: 'version.held', model: 'alerted', version: 3 });
    const counts = await Promise.all([
      deliverDueAlerts(db(), silentLogger),
      deliverDueAlerts(db(), silentLogger),
    ]);
    expect(counts.sort()).toEqual([0, 1]);
    const [row] = await outbox();
    expect(received).toEqual([
      { eventId: row?.id, body: { eventId: row?.id, event: 'version.held', model: 'alerted', version: 3 } },
    ]);
    expect(row).toMatchObject({ attempts: 1, delivered_at: expect.any(Date), failed_at: null });
    expect(await deliverDueAlerts(db(), silentLogger)).toBe(0);
  });

  it('writes nothing for a model without a webhook', async () => {
    await queueAlert(db(), { name: 'alerted', alerts: {} }, { event: 'version.held' });
    expect(await outbox()).toEqual([]);
  });

  it('sends an alert again, with the same event id, after a deliverer died holding it', async () => {
    await queueAlert(db(), spec, { event: 'version.held', model: 'alerted' });
    // a deliverer takes it and dies before the POST: the lease runs out and it is due again
    const taken = await claimDueAlert(db(), 300);
    expect(taken).toBeDefined();
    expect(await deliverDueAlerts(db(), silentLogger)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await deliverDueAlerts(db(), silentLogger)).toBe(1);
    expect(received.map((r) => r.eventId)).toEqual([taken?.id]);
    expect((await outbox())[0]?.attempts).toBe(2);
  });

  it('retries a failing webhook after a backoff, and gives up after the last attempt', async () => {
    answers.push(503, 500, 500);
    await queueAlert(db(), spec, { event: 'inputs.failed', model: 'alerted' });
    const options = { attempts: 3, backoffMs: 50, timeoutMs: 1_000 };
    expect(await deliverDueAlerts(db(), silentLogger, options)).toBe(0);
    expect(await outbox()).toMatchObject([{ attempts: 1, failed_at: null, last_error: 'HTTP 503' }]);
    // not due before its backoff
    expect(await deliverDueAlerts(db(), silentLogger, options)).toBe(0);
    expect(received).toHaveLength(1);
    for (const attempt of [2, 3]) {
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** (attempt - 2) + 30));
      expect(await deliverDueAlerts(db(), silentLogger, options)).toBe(0);
    }
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.eventId)).size).toBe(1);
    expect(await outbox()).toMatchObject([
      { attempts: 3, failed_at: expect.any(Date), last_error: 'HTTP 500' },
    ]);
  });

  it('gives up at once on a webhook that refuses the alert (4xx)', async () => {
    answers.push(400);
    await queueAlert(db(), spec, { event: 'version.held', model: 'alerted' });
    expect(await deliverDueAlerts(db(), silentLogger)).toBe(0);
    expect(await outbox()).toMatchObject([
      { attempts: 1, failed_at: expect.any(Date), last_error: 'HTTP 400' },
    ]);
  });
});
