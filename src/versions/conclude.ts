import type pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import type { Lineage } from '../db/json-columns.ts';
import { finishRun } from '../db/runs.ts';
import { findVersionById, mergeLineage, transitionVersion, type Version } from '../db/versions.ts';
import { type AlertOptions, announceHeld, heldAlert, queueAlert, sendQueuedAlert } from '../drift/alerts.ts';
import { gateCandidate } from '../drift/gate.ts';
import type { DriftReport } from '../drift/report.ts';
import type { ModelSpec } from '../model/spec.ts';
import { publishInTransaction } from './publish.ts';
import { retainAfterPublish } from './retention.ts';

/**
 * The one way a new version ends, whether a refresh computed it or an import brought it: the
 * drift report against the published version and the gate's verdict (in the caller's
 * transaction, under the model's lock), then publish or hold (with its alert, in the outbox), the
 * lineage's last entries and the run closed; once that has committed, retention after a publish,
 * the alert's delivery after a hold.
 */

export type Candidate = {
  spec: ModelSpec;
  versionId: string;
  runId: string;
  /** who made the version, recorded as its publisher when the gate lets it through */
  actor: string;
  /** why it was published (`refresh <slot> passed the drift gate`) */
  reason: string;
  /** what the lineage gains at the end (times per phase, what was scored or imported), asked for last */
  lineage: () => Lineage;
  /** a report computed before the model's lock; kept when its baseline is still the published version */
  early?: DriftReport | undefined;
  /** called when the gate has passed, before the pointer moves (a refresh enters its last phase) */
  onPublishing?: () => Promise<void>;
};

export type Conclusion = {
  state: 'published' | 'held';
  version: Version;
  report: DriftReport;
  /** the held alert queued with the hold, sent once the decision has committed */
  alertId?: string | undefined;
};

/** The gate and its consequence, inside the caller's transaction (which then commits it). */
export async function decideInTransaction(trx: Db, candidate: Candidate): Promise<Conclusion> {
  const { report, candidate: version } = await gateCandidate(
    trx,
    candidate.versionId,
    candidate.spec.drift,
    candidate.early,
  );
  let state: Conclusion['state'] = 'held';
  let alertId: string | undefined;
  if (report.verdict.passed) {
    await candidate.onPublishing?.();
    await publishInTransaction(trx, version, { actor: candidate.actor, reason: candidate.reason });
    state = 'published';
  } else {
    await transitionVersion(trx, version.id, ['running'], 'held');
    // the alert commits with the hold: a process killed before sending it cannot lose it
    alertId = await queueAlert(trx, candidate.spec, heldAlert(report));
  }
  await mergeLineage(trx, version.id, candidate.lineage());
  await finishRun(trx, candidate.runId, { state: 'succeeded' });
  const concluded = await findVersionById(trx, version.id);
  if (concluded === undefined) throw new Error(`version ${version.id} vanished as it was concluded`);
  return { state, version: concluded, report, alertId };
}

export type AfterDeps = { db: Db; pool: pg.Pool; logger: Logger; alerts?: AlertOptions | undefined };

/**
 * What follows a decision once it has committed: after a publish, retention (a failure there is
 * logged and tried again after the next publish); after a hold, the alert.
 */
export async function afterDecision(deps: AfterDeps, spec: ModelSpec, decision: Conclusion): Promise<void> {
  if (decision.state === 'held') {
    announceHeld(deps.logger, spec, decision.report);
    await sendQueuedAlert(deps.db, deps.logger, decision.alertId, deps.alerts);
    return;
  }
  deps.logger.info(
    { model: spec.name, version: decision.version.number, rows: decision.version.rowCount },
    `published version ${decision.version.number}`,
  );
  await retainAfterPublish(deps, spec.name, spec.retention.keepVersions);
}
