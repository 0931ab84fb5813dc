import type { Logger } from 'pino';
import { Counter, Registry } from 'prom-client';
import type { InputCheck } from '../db/json-columns.ts';
import type { DriftReport } from './report.ts';

/**
 * What operators are told when the gate holds a version back, or a refresh fails its input
 * checks: a warning in the log, a counter, and the checks POSTed to the model's webhook. A dead
 * webhook is logged and counted; it never fails the run or the import that was held.
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

export type AlertOptions = { attempts?: number; timeoutMs?: number; backoffMs?: number };

export async function announceHeld(
  logger: Logger,
  spec: { name: string; alerts: { webhookUrl?: string | undefined } },
  report: DriftReport,
  options: AlertOptions = {},
): Promise<void> {
  const failed = report.verdict.checks.filter((check) => !check.passed).map((check) => check.name);
  logger.warn(
    { model: spec.name, version: report.candidate.version, baseline: report.baseline?.version, failed },
    `the drift gate held version ${report.candidate.version} back (${failed.join(', ')}); approve it with \`almanac publish\` or reject it`,
  );
  heldVersions.inc({ model: spec.name });
  await alert(logger, spec, heldAlert(report), options);
}

export type InputsFailure = { version: number; runId: string; error: string; checks: InputCheck[] };

/** A refresh failed its input checks (src/drift/input-checks.ts): its run and version are `failed`. */
export async function announceInputsFailed(
  logger: Logger,
  spec: { name: string; alerts: { webhookUrl?: string | undefined } },
  failure: InputsFailure,
  options: AlertOptions = {},
): Promise<void> {
  const failed = failure.checks.filter((check) => !check.passed).map((check) => check.name);
  logger.warn({ model: spec.name, version: failure.version, runId: failure.runId, failed }, failure.error);
  failedInputs.inc({ model: spec.name });
  await alert(logger, spec, inputsFailedAlert(spec.name, failure), options);
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

async function alert(
  logger: Logger,
  spec: { name: string; alerts: { webhookUrl?: string | undefined } },
  body: unknown,
  options: AlertOptions,
): Promise<void> {
  const url = spec.alerts.webhookUrl;
  if (url === undefined) return;
  const delivered = await postWithRetries(url, body, options, logger);
  if (!delivered) failedAlerts.inc({ model: spec.name });
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

async function postWithRetries(
  url: string,
  body: unknown,
  { attempts = 3, timeoutMs = 5_000, backoffMs = 500 }: AlertOptions,
  logger: Logger,
): Promise<boolean> {
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    let outcome: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'almanac-drift-alert' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel();
      if (response.ok) return true;
      outcome = `HTTP ${response.status}`;
      // The receiver refused this body: sending it again cannot help.
      if (
        response.status >= 400 &&
        response.status < 500 &&
        response.status !== 408 &&
        response.status !== 429
      ) {
        logger.warn({ url, attempt, outcome }, 'the alert webhook refused the alert');
        return false;
      }
    } catch (error) {
      outcome = error instanceof Error ? error.message : String(error);
    }
    logger.warn({ url, attempt, attempts, outcome }, 'the alert webhook did not answer');
    if (attempt < attempts)
      await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
  }
  return false;
}
