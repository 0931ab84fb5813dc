import type { Db } from '../db/database.ts';
import { lockModelForTransaction } from '../db/locks.ts';
import { findPublishedVersion, findVersionById, setDriftReport, type Version } from '../db/versions.ts';
import type { DriftPolicy } from '../model/spec.ts';
import { type DriftReport, driftReport, type ReportOptions } from './report.ts';

/**
 * The drift gate, inside the transaction that publishes or holds the candidate. It takes the
 * model's lock first, so the published version cannot change underneath until that transaction
 * ends. A report computed beforehand, outside the lock, is kept when its baseline is still the
 * published version; otherwise the report is computed again here. The report is stored on the
 * candidate either way.
 */
export async function gateCandidate(
  trx: Db,
  candidateId: string,
  policy: DriftPolicy,
  computedEarlier?: DriftReport,
): Promise<{ candidate: Version; report: DriftReport }> {
  const candidate = await findVersionById(trx, candidateId);
  if (candidate === undefined) throw new Error(`version ${candidateId} vanished before its drift gate`);
  await lockModelForTransaction(trx, candidate.model);
  const baseline = await findPublishedVersion(trx, candidate.model);
  const report =
    computedEarlier !== undefined && computedEarlier.baseline?.version === baseline?.number
      ? computedEarlier
      : await driftReport(trx, baseline, candidate, policy, { inTransaction: true });
  await setDriftReport(trx, candidateId, report);
  return { candidate, report };
}

/**
 * The report before the gate takes the model's lock: on the pool, where its queries run side by
 * side (a refresh), or early in the caller's transaction (an import, `inTransaction`).
 */
export async function reportAgainstPublished(
  db: Db,
  candidateId: string,
  policy: DriftPolicy,
  options: Pick<ReportOptions, 'inTransaction' | 'candidateSummary'> = {},
): Promise<DriftReport> {
  const candidate = await findVersionById(db, candidateId);
  if (candidate === undefined) throw new Error(`version ${candidateId} vanished before its drift report`);
  return driftReport(db, await findPublishedVersion(db, candidate.model), candidate, policy, options);
}
