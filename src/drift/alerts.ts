import type { Logger } from 'pino';
import { Counter, Registry } from 'prom-client';
import {
  addAlert,
  claimDueAlert,
  markAlertAttemptFailed,
  markAlertDelivered,
  type OutboxAlert,
} from '../db/alert-outbox.ts';
import type { Db } from '../db/database.ts';
import type { InputCheck } from '../db/json-columns.ts';
import type { DriftReport } from './report.ts';

/**
 * What operators are told when the gate holds a version back, or a refresh fails its input
 * checks: a warning in the log, a counter, and, when the model has a webhook, an alert written to
 * the outbox (src/db/alert-outbox.ts) with the event and POSTed from there, at least once, by the
 * process that wrote it and else by any worker. A dead webhook is logged and counted; it never
 * fails the run or the import that was held.
 */

/** The gate's counters, kept per process; the API and the worker both export them. */
export const gateRegistry = new Registry();

const heldVersions = new Counter({
  name: 'almanac_drift_gate_held_total',
  help: 'Versions the drift gate held back, by model',
  labelNames: ['model'] as const,
  registers: [gateRegistry],
});

const failedInputs = new Counter({
  name: 'almanac_input_checks_failed_total',
  help: 'Refresh runs that failed their input checks, by model',
  labelNames: ['model'] as const,
  registers: [gateRegistry],
});

const failedAlerts = new Counter({
  name: 'almanac_alert_webhook_failures_total',
  help: 'Alerts (held versions, failed input checks) whose webhook did not accept them after every retry, by model',
  labelNames: ['model'] as const,
  registers: [gateRegistry],
});

const deliveredAlerts = new Counter({
  name: 'almanac_alerts_delivered_total',
  help: 'Alerts their webhook accepted, by model',
  labelNames: ['model'] as const,
  registers: [gateRegistry],
});

/** Delivery: attempts per alert, each POST's timeout, the first retry's delay (doubling, at most 5 min). */
export type AlertOptions = { attempts?: number; timeoutMs?: number; backoffMs?: number };

const DEFAULTS = { attempts: 12, timeoutMs: 5_000, backoffMs: 1_000 } as const;
const MAX_BACKOFF_MS = 5 * 60_000;

type AlertTarget = { name: string; alerts: { webhookUrl?: string | undefined } };

/**
 * Puts an alert in the outbox, in the caller's transaction when it has one: the event and its
 * alert commit together. Its id (its event id), for the writer to send it at once once committed
 * (sendQueuedAlert); undefined when the model has no webhook.
 */
export async function queueAlert(
  db: Db,
  spec: AlertTarget,
  body: { event: string } & Record<string, unknown>,
): Promise<string | undefined> {
  const url = spec.alerts.webhookUrl;
  if (url === undefined) return undefined;
  return addAlert(db, { model: spec.name, event: body.event, url, body });
}

/**
 * The writer's own attempt at the alert it has just queued, once committed: that alert alone
 * (other models' alerts and retries are the workers' periodic delivery's, jobs/outbox.ts), and
 * never a failure for the caller, whose event has committed already: a failed attempt is retried
 * by that delivery.
 */
export async function sendQueuedAlert(
  db: Db,
  logger: Logger,
  id: string | undefined,
  options: AlertOptions = {},
): Promise<void> {
  if (id === undefined) return;
  await deliverNext(db, logger, options, id).catch((error: unknown) =>
    logger.warn({ err: error, eventId: id }, 'could not send the alert now; the outbox will'),
  );
}

/** Logs and counts a held version; its alert was queued with the hold (queueAlert). */
export function announceHeld(logger: Logger, spec: AlertTarget, report: DriftReport): void {
  const failed = report.verdict.checks.filter((check) => !check.passed).map((check) => check.name);
  logger.warn(
    { model: spec.name, version: report.candidate.version, baseline: report.baseline?.version, failed },
    `the drift gate held version ${report.candidate.version} back (${failed.join(', ')}); approve it with \`almanac publish\` or reject it`,
  );
  heldVersions.inc({ model: spec.name });
}

export type InputsFailure = { version: number; runId: string; error: string; checks: InputCheck[] };

/**
 * A refresh failed its input checks (src/drift/input-checks.ts): its run and version are
 * `failed`. Logs and counts it; its alert was queued before the failure was recorded.
 */
export function announceInputsFailed(logger: Logger, spec: AlertTarget, failure: InputsFailure): void {
  const failed = failure.checks.filter((check) => !check.passed).map((check) => check.name);
  logger.warn({ model: spec.name, version: failure.version, runId: failure.runId, failed }, failure.error);
  failedInputs.inc({ model: spec.name });
}

/** The webhook's body for failed input checks: every check, and where the version's lineage is. */
export function inputsFailedAlert(model: string, failure: InputsFailure) {
  return {
    event: 'inputs.failed',
    model,
    version: failure.version,
    runId: failure.runId,
    error: failure.error,
    checks: failure.checks,
    lineage: `/v1/models/${model}/versions/${failure.version}`,
  };
}

/** The webhook's body: enough to act on without another request, and where the rest is. */
export function heldAlert(report: DriftReport) {
  const { model, version } = report.candidate;
  return {
    event: 'version.held',
    model,
    version,
    baseline: report.baseline?.version ?? null,
    verdict: report.verdict,
    report: `/v1/models/${model}/versions/${version}/drift`,
  };
}

/**
 * Delivers the alerts that are due, one attempt each, until none is left: every worker calls it
 * now and then (jobs/outbox.ts), so that retries and the alerts of processes that died go out too
 * (the process that wrote an alert tries that one at once: sendQueuedAlert). Returns how many
 * were delivered.
 */
export async function deliverDueAlerts(db: Db, logger: Logger, options: AlertOptions = {}): Promise<number> {
  let delivered = 0;
  for (let outcome = await deliverNext(db, logger, options); outcome !== 'none'; ) {
    if (outcome === 'delivered') delivered += 1;
    outcome = await deliverNext(db, logger, options);
  }
  return delivered;
}

/**
 * One attempt at the next due alert (at alert `id` alone, when given): 'none' when none was due or
 * free. A failed attempt is rescheduled with backoff, or given up after the last attempt or a
 * refusal.
 */
async function deliverNext(
  db: Db,
  logger: Logger,
  options: AlertOptions,
  id?: string,
): Promise<'none' | 'delivered' | 'failed'> {
  const { attempts, timeoutMs, backoffMs } = { ...DEFAULTS, ...options };
  // leased for the POST's timeout and a margin: a deliverer that dies mid-POST frees it then
  const alert = await claimDueAlert(db, timeoutMs + 1_000, id);
  if (alert === undefined) return 'none';
  const outcome = await postOnce(alert, timeoutMs);
  if (outcome.ok) {
    await markAlertDelivered(db, alert.id);
    deliveredAlerts.inc({ model: alert.model });
    return 'delivered';
  }
  const final = outcome.refused || alert.attempts >= attempts;
  const retryInMs = final ? null : Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (alert.attempts - 1));
  await markAlertAttemptFailed(db, alert.id, outcome.error, retryInMs);
  const context = {
    url: alert.url,
    eventId: alert.id,
    attempt: alert.attempts,
    attempts,
    outcome: outcome.error,
  };
  if (final) {
    failedAlerts.inc({ model: alert.model });
    logger.warn(
      context,
      outcome.refused ? 'the alert webhook refused the alert' : 'the alert webhook did not answer; giving up',
    );
  } else {
    logger.warn({ ...context, retryInMs }, 'the alert webhook did not answer; it will be tried again');
  }
  return 'failed';
}

/** One POST of an alert, its event id in the body and in a header for the receiver to deduplicate. */
async function postOnce(
  alert: OutboxAlert,
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; refused: boolean; error: string }> {
  try {
    const response = await fetch(alert.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'almanac-drift-alert',
        'almanac-event-id': alert.id,
      },
      body: JSON.stringify({ eventId: alert.id, ...alert.body }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (response.ok) return { ok: true };
    const { status } = response;
    // The receiver refused this body: sending it again cannot help.
    const refused = status >= 400 && status < 500 && status !== 408 && status !== 429;
    return { ok: false, refused, error: `HTTP ${status}` };
  } catch (error) {
    return { ok: false, refused: false, error: error instanceof Error ? error.message : String(error) };
  }
}
