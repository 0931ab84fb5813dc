import { createReadStream } from 'node:fs';
import type pg from 'pg';
import type { Logger } from 'pino';
import { classifyError } from '../classify-error.ts';
import { createClient, createDbOnClient, type Db } from '../db/database.ts';
import { storedSpec } from '../db/json-columns.ts';
import { terminateBackend, tryVersionLock, versionLockHolders, waitVersionLock } from '../db/locks.ts';
import { findModel } from '../db/models.ts';
import {
  dropPartition,
  indexAndAttachPartition,
  partitionChecksum,
  writePartition,
} from '../db/partitions.ts';
import {
  findRun,
  finishRun,
  lockRunVersion,
  type Run,
  setRunError,
  setRunPhase,
  setRunVersion,
  startRunAttempt,
} from '../db/runs.ts';
import { estimatedKeys } from '../db/scoring.ts';
import { resolveSource } from '../db/source.ts';
import type { RunPhase } from '../db/types.ts';
import {
  createVersion,
  findPublishedVersion,
  findVersionById,
  mergeLineage,
  setVersionResults,
} from '../db/versions.ts';
import {
  type AlertOptions,
  announceInputsFailed,
  deliverDueAlerts,
  inputsFailedAlert,
  queueAlert,
} from '../drift/alerts.ts';
import { reportAgainstPublished } from '../drift/gate.ts';
import { checkInputs, InputCheckError, inputChecksFailure } from '../drift/input-checks.ts';
import { PermanentError } from '../errors.ts';
import { estimatorFor } from '../model/estimators/registry.ts';
import type { ModelSpec } from '../model/spec.ts';
import { SourceDataError, train } from '../model/train.ts';
import { packageVersion as codeVersion } from '../package-info.ts';
import { afterDecision, decideInTransaction } from '../versions/conclude.ts';
import { failRunAndVersion } from './abandon.ts';
import type { scoreNewestRows } from './score.ts';
import { scoreInThread } from './score-in-thread.ts';
import { createSpillFile } from './spill-file.ts';

export type RefreshDeps = {
  db: Db;
  pool: pg.Pool;
  databaseUrl: string;
  logger: Logger;
  /** how long a new attempt waits for a stalled one's lock after terminating it */
  lockWaitMs?: number;
  /** the alert webhook's retries and timeout (held versions, failed input checks); tests shorten them */
  alerts?: AlertOptions;
};

export type RefreshAttempt = {
  runId: string;
  jobId: string;
  /**
   * Whether this attempt still owns its job (BullMQ's lock): asked before terminating another
   * attempt's connection, so that a stalled attempt that wakes up can never take over from the
   * attempt that replaced it.
   */
  stillOwnsJob: () => Promise<boolean>;
  /** attempts made before this one (BullMQ's attemptsMade) */
  attemptsMade: number;
  maxAttempts: number;
};

export type RefreshOutcome =
  | { state: 'published' | 'held'; model: string; version: number }
  | { state: 'skipped'; reason: string };

/** Where each phase starts and ends on the run's overall progress (0 to 1). */
const phaseSpan: Record<RunPhase, [number, number]> = {
  queued: [0, 0],
  checking: [0, 0.02],
  training: [0.02, 0.1],
  scoring: [0.1, 0.85],
  indexing: [0.85, 0.95],
  validating: [0.95, 0.98],
  publishing: [0.98, 1],
  done: [1, 1],
};

/**
 * One attempt at a refresh run, through the phases README.md lists (How a refresh works). The run's version is created
 * once; the attempt holds that version's advisory lock on a connection of its own for its whole
 * life and writes only through it, so an attempt that lost the lock (a stalled worker whose job
 * was handed to another) can change nothing. A failure on the last attempt leaves the version
 * `failed`, no rows anywhere, and the published version untouched.
 */
export async function runRefresh(deps: RefreshDeps, attempt: RefreshAttempt): Promise<RefreshOutcome> {
  const { db, logger } = deps;
  const run = await findRun(db, attempt.runId);
  if (run === undefined) throw new PermanentError(`run ${attempt.runId} does not exist`);
  if (run.state === 'succeeded' || run.state === 'failed')
    return { state: 'skipped', reason: `run already ${run.state}` };
  const model = await findModel(db, run.model);
  if (model === undefined) throw new PermanentError(`model "${run.model}" does not exist`);
  if (model.spec.source === undefined || !estimatorFor(model.spec.estimator).needsSource) {
    throw new PermanentError(
      `model "${model.spec.name}" is ${model.spec.estimator}: its versions are imported, not refreshed`,
    );
  }
  const versionId = await ensureVersion(db, run, model.spec, attempt.jobId);
  // Every attempt of a run trains with the spec its lineage recorded, even if the spec was
  // applied again in between: the lineage stays true.
  const recorded = (await findVersionById(db, versionId))?.lineage.spec;
  const spec = recorded === undefined ? model.spec : storedSpec(recorded);
  const log = logger.child({ model: spec.name, runId: run.id, versionId });

  const client = createClient(deps.databaseUrl, `almanac-attempt-v${versionId}`);
  client.on('error', (error) => log.warn({ err: error }, 'the attempt lost its database connection'));
  await client.connect();
  try {
    await acquireVersionLock(client, versionId, deps.lockWaitMs ?? 30_000, attempt.stillOwnsJob, log);
    const fenced = createDbOnClient(client);
    try {
      return await attemptUnderLock({ deps, fenced, client, run, spec, versionId, attempt, log });
    } catch (error) {
      const final = !classifyError(error).retry || attempt.attemptsMade + 1 >= attempt.maxAttempts;
      const message = error instanceof Error ? error.message : String(error);
      log.error(
        { err: error, final },
        final ? 'refresh failed for good' : 'refresh attempt failed; it will be retried',
      );
      const inputsFailure =
        error instanceof InputCheckError
          ? { version: error.version, runId: run.id, error: message, checks: error.checks }
          : undefined;
      // the alert before the failure: a process that dies between the two alerts twice, never not at all
      if (inputsFailure !== undefined) {
        await queueAlert(fenced, spec, inputsFailedAlert(spec.name, inputsFailure)).catch((lost: unknown) =>
          log.error({ err: lost }, 'could not queue the alert of the failed input checks'),
        );
      }
      await recordFailure(fenced, client, run.id, versionId, message, final).catch((cleanup: unknown) =>
        log.warn({ err: cleanup }, 'could not record the failure (the attempt may have lost its lock)'),
      );
      if (inputsFailure !== undefined) {
        announceInputsFailed(log, spec, inputsFailure);
        await deliverDueAlerts(deps.db, log, deps.alerts);
      }
      throw error;
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** The run's version, created on its first attempt and reused by every retry. */
async function ensureVersion(db: Db, run: Run, spec: ModelSpec, jobId: string): Promise<string> {
  if (run.versionId !== null) return run.versionId;
  return db.transaction().execute(async (trx) => {
    const locked = await lockRunVersion(trx, run.id);
    if (locked !== null) return locked;
    const version = await createVersion(trx, spec.name, {
      spec,
      estimator: spec.estimator,
      params: spec.params,
      trigger: run.trigger,
      slot: run.slot,
      runId: run.id,
      jobId,
      codeVersion,
    });
    await setRunVersion(trx, run.id, version.id);
    return version.id;
  });
}

/**
 * Takes the version's lock. When another backend holds it, that is an attempt BullMQ has given
 * up on (it hands a job over only after its lock expired): its connection is terminated, so that
 * it can write nothing more, and this attempt takes over.
 */
async function acquireVersionLock(
  client: pg.Client,
  versionId: string,
  waitMs: number,
  stillOwnsJob: () => Promise<boolean>,
  log: Logger,
): Promise<void> {
  if (await tryVersionLock(client, versionId)) return;
  if (!(await stillOwnsJob())) {
    throw new Error(`version ${versionId} is locked by another attempt, and this one no longer owns its job`);
  }
  for (const pid of await versionLockHolders(client, versionId)) {
    log.warn({ pid }, 'taking over from a stalled attempt: terminating its connection');
    await terminateBackend(client, pid);
  }
  if (!(await waitVersionLock(client, versionId, waitMs))) {
    throw new Error(`version ${versionId} is still locked by another attempt after ${waitMs} ms`);
  }
}

type AttemptContext = {
  deps: RefreshDeps;
  fenced: Db;
  client: pg.Client;
  run: Run;
  spec: ModelSpec;
  versionId: string;
  attempt: RefreshAttempt;
  log: Logger;
};

async function attemptUnderLock(ctx: AttemptContext): Promise<RefreshOutcome> {
  const { deps, fenced, client, run, spec, versionId, log } = ctx;
  const version = await findVersionById(fenced, versionId);
  if (version === undefined) throw new PermanentError(`version ${versionId} vanished`);
  // A previous attempt may have got as far as the gate and died before closing the run.
  if (version.state === 'held' || version.state === 'published' || version.state === 'superseded') {
    await finishRun(fenced, run.id, { state: 'succeeded' });
    return { state: 'skipped', reason: `version ${version.number} already ${version.state}` };
  }
  if (version.state !== 'running') {
    await finishRun(fenced, run.id, {
      state: 'failed',
      error: `version ${version.number} is ${version.state}`,
    });
    return { state: 'skipped', reason: `version ${version.number} is ${version.state}` };
  }

  const attemptNumber = await startRunAttempt(fenced, run.id);
  await mergeLineage(fenced, versionId, { jobId: ctx.attempt.jobId, attempts: attemptNumber });
  // A retry starts from nothing: whatever an earlier attempt wrote goes first.
  await dropPartition(client, versionId);

  const timings: Partial<Record<RunPhase, number>> = {};
  // finer steps inside the phases, for operators and the refresh benchmark
  const steps: Record<string, number> = {};
  const since = (start: number) => Math.round(performance.now() - start);
  let phaseStarted = performance.now();
  let phase: RunPhase = 'checking';
  const enter = async (next: RunPhase) => {
    timings[phase] = Math.round(performance.now() - phaseStarted);
    phase = next;
    phaseStarted = performance.now();
    await setRunPhase(deps.db, run.id, attemptNumber, next, phaseSpan[next][0]);
    log.info({ phase: next }, `refresh ${next}`);
  };
  log.info({ phase, attempt: attemptNumber }, 'refresh checking');

  const source = await resolveSource(deps.db, spec.source as NonNullable<ModelSpec['source']>);
  const inputs = await checkInputs(deps.db, {
    spec,
    source,
    published: await findPublishedVersion(deps.db, spec.name),
    forced: run.forceInputs,
  });
  await mergeLineage(fenced, versionId, { inputs });
  if (!inputs.passed && !inputs.forced) throw new InputCheckError(spec.name, version.number, inputs);
  if (!inputs.passed) {
    log.warn(
      { failed: inputChecksFailure(spec.name, inputs) },
      'the run was forced past its failed input checks',
    );
  }

  await enter('training');
  const training = await train(deps.db, spec, source);
  await mergeLineage(fenced, versionId, {
    training: { window: training.window, rows: training.rows },
    artifact: training.artifact,
  });

  await enter('scoring');
  // Scored rows go to a spill file first and are COPYed from it in one go: memory stays flat,
  // the source cursor and the COPY do not compete for the same cores, a scoring failure has
  // written nothing to Postgres, and the COPY statement is as short as the data allows.
  const spill = await createSpillFile(`estimates_v${versionId}`);
  let counts: Awaited<ReturnType<typeof scoreNewestRows>>;
  let copyStarted: number;
  try {
    const scoringStarted = performance.now();
    const expected = await estimatedKeys(deps.db, source);
    const [from, to] = phaseSpan.scoring;
    let lastReport = 0;
    counts = await scoreInThread(
      {
        databaseUrl: deps.databaseUrl,
        source,
        estimator: spec.estimator,
        artifact: training.artifact,
        spillPath: spill.path,
      },
      (rows) => {
        const now = performance.now();
        if (expected === undefined || now - lastReport < 500) return;
        lastReport = now;
        // the COPY of the spill file takes the last tenth of the phase
        const share = Math.min(0.9, (0.9 * rows) / expected);
        setRunPhase(deps.db, run.id, attemptNumber, 'scoring', from + (to - from) * share).catch(
          (error: unknown) => log.debug({ err: error }, 'progress update failed'),
        );
      },
    );
    steps.score = since(scoringStarted);
    if (counts.rows === 0) {
      throw new SourceDataError(
        `source ${source.table} has no key to score (${counts.skippedRows} newest rows with null or non-finite features, ${counts.skippedKeys} invalid keys)`,
      );
    }
    copyStarted = performance.now();
    // Small reads: COPY cannot take bytes faster than the server parses them, and big chunks only
    // pile up in the socket's buffer.
    await writePartition(client, versionId, () => createReadStream(spill.path, { highWaterMark: 16 * 1024 }));
    steps.copy = since(copyStarted);
  } finally {
    await spill.remove();
  }

  await enter('indexing');
  const indexStarted = performance.now();
  await indexAndAttachPartition(client, versionId);
  steps.indexAndAttach = since(indexStarted);
  // From the first byte sent to COPY to the end of ATTACH: what the refresh benchmark compares
  // with a plain COPY and primary key of the same rows.
  steps.writeAndIndex = since(copyStarted);
  const checksumStarted = performance.now();
  const { rowCount, checksum } = await partitionChecksum(client, versionId);
  steps.checksum = since(checksumStarted);
  await setVersionResults(fenced, versionId, { rowCount, checksum, metrics: training.metrics });

  await enter('validating');
  // The report's queries run side by side on the pool, before the gate takes the model's lock; the
  // gate computes it again, in its transaction, only if another version was published meanwhile.
  const early = await reportAgainstPublished(deps.db, versionId, spec.drift);
  const decision = await fenced.transaction().execute((trx) =>
    decideInTransaction(trx, {
      spec,
      versionId,
      runId: run.id,
      actor: run.trigger,
      reason: `refresh ${run.slot} passed the drift gate`,
      early,
      onPublishing: async () => {
        timings.validating = Math.round(performance.now() - phaseStarted);
        phase = 'publishing';
        phaseStarted = performance.now();
        await setRunPhase(deps.db, run.id, attemptNumber, 'publishing', phaseSpan.publishing[0]);
      },
      lineage: () => {
        // the last phase ends here, as its transaction is about to commit
        timings[phase] = Math.round(performance.now() - phaseStarted);
        return {
          phasesMs: timings,
          stepsMs: steps,
          scoring: { rows: rowCount, skippedRows: counts.skippedRows, skippedKeys: counts.skippedKeys },
        };
      },
    }),
  );
  await afterDecision({ ...deps, logger: log }, spec, decision);
  return { state: decision.state, model: spec.name, version: decision.version.number };
}

/**
 * Records a failed attempt, through the attempt's own (fenced) connection. On the last attempt
 * the version becomes `failed` with the error and its table goes; otherwise the run keeps the
 * error for operators to see while BullMQ retries.
 */
async function recordFailure(
  fenced: Db,
  client: pg.Client,
  runId: string,
  versionId: string,
  message: string,
  final: boolean,
): Promise<void> {
  // A version that reached the gate has a run that succeeded: nothing after that undoes it.
  const version = await findVersionById(fenced, versionId);
  if (version === undefined || (version.state !== 'running' && version.state !== 'failed')) return;
  if (!final) {
    await setRunError(fenced, runId, message);
    return;
  }
  await failRunAndVersion(fenced, client, runId, versionId, message);
}
