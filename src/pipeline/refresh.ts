import type pg from 'pg';
import type { Logger } from 'pino';
import { classifyError } from '../classify-error.ts';
import { createClient } from '../db/client.ts';
import { createDbOnClient, type Db } from '../db/database.ts';
import { summaryAndChecksum, withStatisticsSettings } from '../db/drift-stats.ts';
import { newestSlice } from '../db/input-stats.ts';
import { storedSpec } from '../db/json-columns.ts';
import { shardLockName } from '../db/locks.ts';
import { findModel } from '../db/models.ts';
import {
  attachShards,
  createShardedPartition,
  dropPartition,
  indexAndAttachPartition,
} from '../db/partitions.ts';
import { listRunShards, resetRunShards } from '../db/run-shards.ts';
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
import { resolveSource, type SourceRef } from '../db/source.ts';
import type { RunPhase } from '../db/types.ts';
import {
  createVersion,
  findPublishedVersion,
  findVersionById,
  mergeLineage,
  setVersionMetrics,
  setVersionResults,
  type Version,
} from '../db/versions.ts';
import {
  type AlertOptions,
  announceInputsFailed,
  inputsFailedAlert,
  queueAlert,
  sendQueuedAlert,
} from '../drift/alerts.ts';
import { reportAgainstPublished } from '../drift/gate.ts';
import { checkInputs, InputCheckError, inputChecksFailure } from '../drift/input-checks.ts';
import { PermanentError, SourceDataError } from '../errors.ts';
import { estimatorFor } from '../model/estimators/registry.ts';
import type { Artifact } from '../model/estimators/types.ts';
import { missingTargetShare } from '../model/moments.ts';
import type { ModelSpec } from '../model/spec.ts';
import {
  type FittedModel,
  fitModel,
  measureModel,
  readTrainingWindow,
  type Training,
} from '../model/train.ts';
import { packageVersion as codeVersion } from '../package-info.ts';
import { afterDecision, decideInTransaction } from '../versions/conclude.ts';
import { failRunAndVersion } from './abandon.ts';
import { acquireFence } from './fence.ts';
import type { ScoringCounts } from './score.ts';
import { scoreToTable } from './score-to-table.ts';
import { shardCount } from './shards.ts';
import type { RefreshStep } from './steps.ts';

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
  /** the run's job as a step job, for a sharded run (jobs/processors/refresh.ts) */
  flow: ShardFlow;
};

/**
 * Whether an attempt's failure is its run's (or shard's) last: an error no retry can fix, or the
 * last attempt BullMQ will make.
 */
export function failsForGood(
  error: unknown,
  attempt: Pick<RefreshAttempt, 'attemptsMade' | 'maxAttempts'>,
): boolean {
  return !classifyError(error).retry || attempt.attemptsMade + 1 >= attempt.maxAttempts;
}

/** What a child job scores: one shard of a run's version. */
export type ShardJob = {
  runId: string;
  model: string;
  slot: string;
  versionId: string;
  shard: number;
  shards: number;
  /** the planner's guess at the source's keys (0: unknown), for progress */
  keys: number;
};

/** How a sharded run's job moves through its steps, given by the job's processor. */
export type ShardFlow = {
  step: RefreshStep;
  saveStep: (step: RefreshStep) => Promise<void>;
  /** adds the child jobs; adding one that exists does nothing (its job id is deterministic) */
  addShards: (shards: ShardJob[]) => Promise<void>;
  /** true when the job now waits for children still running (its processor must let go of it) */
  waitForShards: () => Promise<boolean>;
};

export type RefreshOutcome =
  | { state: 'published' | 'held'; model: string; version: number }
  | { state: 'skipped'; reason: string }
  | { state: 'waiting'; shards: number };

/** A sharded run whose shards did not all succeed fails for good: every retry of them was spent. */
export class ShardsFailedError extends PermanentError {
  override name = 'ShardsFailedError';
}

/** Where each phase starts and ends on the run's overall progress (0 to 1). */
export const phaseSpan: Record<RunPhase, [number, number]> = {
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
 *
 * A run of one shard scores in the attempt itself. A sharded run's job is a step job: it trains,
 * adds one child job per shard (src/pipeline/score-shard.ts) and waits for them without holding a
 * worker slot, then resumes to index, validate and publish what they wrote; both go through the
 * same phase functions below.
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
    await acquireFence(client, versionId, deps.lockWaitMs ?? 30_000, attempt.stillOwnsJob, log);
    const fenced = createDbOnClient(client);
    try {
      return await attemptUnderLock({ deps, fenced, client, run, spec, versionId, attempt, log });
    } catch (error) {
      const final = failsForGood(error, attempt);
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
      let alertId: string | undefined;
      if (inputsFailure !== undefined) {
        alertId = await queueAlert(fenced, spec, inputsFailedAlert(spec.name, inputsFailure)).catch(
          (lost: unknown) => {
            log.error({ err: lost }, 'could not queue the alert of the failed input checks');
            return undefined;
          },
        );
      }
      await recordFailure(fenced, client, run.id, versionId, message, final).catch((cleanup: unknown) =>
        log.warn({ err: cleanup }, 'could not record the failure (the attempt may have lost its lock)'),
      );
      if (inputsFailure !== undefined) {
        announceInputsFailed(log, spec, inputsFailure);
        await sendQueuedAlert(deps.db, log, alertId, deps.alerts);
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
  const { fenced, run, versionId } = ctx;
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
  const { flow } = ctx.attempt;
  if (flow.step === 'train') {
    const planned = await startAttempt(ctx);
    if (planned.shards === 1) return refreshInOneStep(ctx, version, planned);
    const fitted = await checkAndFit(ctx, version, planned);
    await measure(ctx, fitted);
    await prepareShards(ctx, fitted);
  }
  if (flow.step !== 'finish') {
    await addShards(ctx);
    await flow.saveStep('finish');
  }
  return finishShards(ctx, version);
}

/** What an attempt's first step knows before it reads a row: a retry starts here from nothing. */
type Planned = {
  timer: PhaseTimer;
  source: SourceRef;
  /** the planner's guess at the source's keys, for `"shards": "auto"` and progress */
  keys: number | undefined;
  shards: number;
};

type Fitted = Planned & { model: FittedModel };

async function startAttempt(ctx: AttemptContext): Promise<Planned> {
  const { deps, fenced, client, run, spec, versionId, log } = ctx;
  const attemptNumber = await startRunAttempt(fenced, run.id);
  await mergeLineage(fenced, versionId, { jobId: ctx.attempt.jobId, attempts: attemptNumber });
  // A retry starts from nothing: whatever an earlier attempt wrote goes first (shards included).
  await dropPartition(client, versionId);
  const timer = new PhaseTimer(deps.db, run.id, attemptNumber, log);
  log.info({ phase: 'checking', attempt: attemptNumber }, 'refresh checking');
  const source = await resolveSource(deps.db, spec.source as NonNullable<ModelSpec['source']>);
  const keys = await estimatedKeys(deps.db, source);
  const shards = await shardCount(deps.db, spec, source, keys);
  // the number used, whatever the spec asked ("auto" included)
  await mergeLineage(fenced, versionId, { shards });
  return { timer, source, keys, shards };
}

/**
 * The `checking` and `training` phases of a run's first step. Training here is the fit, from the
 * window's moments; the model is measured after (measure).
 */
async function checkAndFit(ctx: AttemptContext, version: Version, planned: Planned): Promise<Fitted> {
  const { deps, fenced, run, spec, versionId, log } = ctx;
  const { source, timer } = planned;
  // The checks and training share their reads: the newest slice gives the window's anchor, and the
  // one scan of the window gives both training's moments and the share of its missing targets.
  // The window's scan and the checks' comparison with the published slice are independent reads,
  // so they run side by side on connections of their own; the phase stays `checking` until both
  // are done, and failed checks still stop the run before it trains.
  const newest = await newestSlice(deps.db, source);
  const published = await findPublishedVersion(deps.db, spec.name);
  const windowRead = readTrainingWindow(deps.db, spec, source, newest ?? undefined);
  const [read, checked] = await Promise.allSettled([
    windowRead,
    checkInputs(deps.db, {
      spec,
      source,
      published,
      forced: run.forceInputs,
      newest,
      targetNullShare: async () => {
        const window = await windowRead;
        return window === null ? null : missingTargetShare(window.days);
      },
    }),
  ]);
  if (read.status === 'rejected') throw read.reason;
  if (checked.status === 'rejected') throw checked.reason;
  const window = read.value;
  const inputs = checked.value;
  await mergeLineage(fenced, versionId, { inputs });
  if (!inputs.passed && !inputs.forced) throw new InputCheckError(spec.name, version.number, inputs);
  if (!inputs.passed) {
    log.warn(
      { failed: inputChecksFailure(spec.name, inputs) },
      'the run was forced past its failed input checks',
    );
  }

  await timer.enter('training');
  return { ...planned, model: fitModel(spec, source, window) };
}

/**
 * Measures the fitted model (holdout errors, the interval) and records it: the lineage, and the
 * version's metrics, which the drift report shows (it starts before the run's results are stored)
 * and a sharded run's resumed job finds there.
 */
async function measure(ctx: AttemptContext, fitted: Fitted): Promise<Training> {
  const { deps, fenced, versionId } = ctx;
  const started = performance.now();
  const training = await measureModel(deps.db, fitted.source, fitted.model);
  fitted.timer.steps.measure = Math.round(performance.now() - started);
  await setVersionMetrics(fenced, versionId, training.metrics);
  await mergeLineage(fenced, versionId, {
    training: { window: training.window, rows: training.rows },
    artifact: training.artifact,
  });
  return training;
}

/**
 * An unsharded run in one step. Reading the source for scoring needs no model, so it starts with
 * the attempt, in a thread and a Postgres backend of its own, beside the input checks and the
 * window's scan; the holdout's scan and sort follow on a pooled connection once the model is fit.
 * Only the COPY waits for the measured model. Whichever fails, both end before the attempt goes on,
 * and failed input checks stop the reading at once.
 */
async function refreshInOneStep(
  ctx: AttemptContext,
  version: Version,
  planned: Planned,
): Promise<RefreshOutcome> {
  const { timer } = planned;
  let measured!: (artifact: Artifact) => void;
  let notMeasured!: (reason: unknown) => void;
  const artifact = new Promise<Artifact>((resolve, reject) => {
    measured = resolve;
    notMeasured = reject;
  });
  const scoring = scoreInAttempt(ctx, planned, artifact);
  // a scoring that fails before the model is measured is reported once, below
  scoring.catch(() => {});
  let training: Training;
  try {
    const fitted = await checkAndFit(ctx, version, planned);
    await timer.enter('scoring');
    training = await measure(ctx, fitted);
    measured(training.artifact);
  } catch (error) {
    notMeasured(error);
    await scoring.catch(() => {});
    throw error;
  }
  return finish(ctx, timer, await scoring);
}

/** An unsharded run's `scoring` phase: every key, scored and written by the attempt itself. */
async function scoreInAttempt(
  ctx: AttemptContext,
  planned: Planned,
  artifact: Promise<Artifact>,
): Promise<Concluding> {
  const { deps, client, run, spec, versionId, log } = ctx;
  const { source, timer, keys: expected } = planned;
  const [from, to] = phaseSpan.scoring;
  const scored = await scoreToTable({
    databaseUrl: deps.databaseUrl,
    client,
    source,
    estimator: spec.estimator,
    artifact,
    target: { versionId },
    onRows: (rows) => {
      // the reading starts during the checks: progress shows from the scoring phase on
      if (expected === undefined || timer.phase !== 'scoring') return;
      // the COPY of the spill file takes the last tenth of the phase
      const share = Math.min(0.9, (0.9 * rows) / expected);
      setRunPhase(deps.db, run.id, timer.attempt, 'scoring', from + (to - from) * share).catch(
        (error: unknown) => log.debug({ err: error }, 'progress update failed'),
      );
    },
  });
  if (scored.counts.rows === 0) throw noKeyToScore(source.table, scored.counts);
  timer.steps.score = scored.scoreMs;
  timer.steps.modelWait = scored.modelWaitMs;
  timer.steps.copy = scored.copyMs;
  return { counts: scored.counts, copyStarted: scored.copyStarted };
}

/**
 * The end of a sharded run's first step: the version's table (partitioned by the hash of the key,
 * which is how each child finds its keys), a pending row per shard, and what the resumed job
 * needs from training kept on the version (the lineage's times; measure kept its metrics), then
 * the next step.
 */
async function prepareShards(ctx: AttemptContext, fitted: Fitted): Promise<void> {
  const { fenced, client, run, versionId, log } = ctx;
  await fitted.timer.enter('scoring');
  await createShardedPartition(client, versionId);
  await resetRunShards(fenced, run.id, fitted.shards);
  await mergeLineage(fenced, versionId, {
    phasesMs: fitted.timer.timings,
    stepsMs: fitted.timer.steps,
  });
  log.info({ shards: fitted.shards }, 'refresh scoring in shards');
  await ctx.attempt.flow.saveStep('score');
}

/**
 * Adds the child job of every shard still pending: all of them, but on a retry of this step,
 * which leaves alone the shards whose job exists and has started (adding again one that failed
 * for good would make this job wait for it forever).
 */
async function addShards(ctx: AttemptContext): Promise<void> {
  const { deps, run, versionId, spec } = ctx;
  const shards = await listRunShards(deps.db, run.id);
  const source = await resolveSource(deps.db, spec.source as NonNullable<ModelSpec['source']>);
  const keys = (await estimatedKeys(deps.db, source)) ?? 0;
  await ctx.attempt.flow.addShards(
    shards
      .filter((shard) => shard.state === 'pending')
      .map((shard) => ({
        runId: run.id,
        model: run.model,
        slot: run.slot,
        versionId,
        shard: shard.index,
        shards: shards.length,
        keys,
      })),
  );
}

/**
 * A sharded run's last step, once no child is pending: every shard's lock is taken (a stale child
 * can then write nothing more), every shard must have succeeded, and their tables become the
 * version's partitions; from there on it ends as an unsharded run does.
 */
async function finishShards(ctx: AttemptContext, version: Version): Promise<RefreshOutcome> {
  const { deps, fenced, client, run, versionId, log } = ctx;
  const shards = await listRunShards(deps.db, run.id);
  if (await ctx.attempt.flow.waitForShards()) {
    log.info({ shards: shards.length }, 'refresh waiting for its shards');
    return { state: 'waiting', shards: shards.length };
  }
  for (const shard of shards) {
    await acquireFence(
      client,
      shardLockName(versionId, shard.index),
      deps.lockWaitMs ?? 30_000,
      ctx.attempt.stillOwnsJob,
      log,
    );
  }
  const settled = await listRunShards(fenced, run.id);
  const failed = settled.filter((shard) => shard.state !== 'succeeded');
  if (settled.length === 0 || failed.length > 0) {
    throw new ShardsFailedError(
      failed
        .map(
          (shard) =>
            `shard ${shard.index} ${shard.state === 'failed' ? 'failed' : 'did not finish'}: ${shard.error ?? 'no error recorded'}`,
        )
        .join('; ') || `run ${run.id} has no shards`,
    );
  }
  const counts = settled.reduce<ScoringCounts>(
    (sum, shard) => ({
      rows: sum.rows + shard.rows,
      skippedRows: sum.skippedRows + shard.skippedRows,
      skippedKeys: sum.skippedKeys + shard.skippedKeys,
    }),
    { rows: 0, skippedRows: 0, skippedKeys: 0 },
  );
  if (counts.rows === 0) throw noKeyToScore(ctx.spec.source?.table ?? '', counts);
  const timer = new PhaseTimer(deps.db, run.id, run.attempts, log, 'scoring', version.lineage);
  // the scoring phase ran in the children: from the first one's start to the last one's end
  const started = Math.min(...settled.map((shard) => shard.startedAt?.getTime() ?? Date.now()));
  const ended = Math.max(...settled.map((shard) => shard.finishedAt?.getTime() ?? Date.now()));
  timer.setPhaseTime(ended - started);
  const copyStarted = performance.now();
  await attachShards(client, versionId, settled.length);
  timer.steps.attachShards = Math.round(performance.now() - copyStarted);
  return finish(ctx, timer, { counts, copyStarted });
}

/** An empty source fails a run at once, however many shards scored it. */
function noKeyToScore(table: string, counts: ScoringCounts): SourceDataError {
  return new SourceDataError(
    `source ${table} has no key to score (${counts.skippedRows} newest rows with null or non-finite features, ${counts.skippedKeys} invalid keys)`,
  );
}

type Concluding = {
  counts: ScoringCounts;
  /** performance.now() when this attempt's writing began (write + index is timed from there) */
  copyStarted: number;
};

/** `indexing`, `validating` and `publishing`, the same for every run once its rows are written. */
async function finish(ctx: AttemptContext, timer: PhaseTimer, done: Concluding): Promise<RefreshOutcome> {
  const { deps, fenced, client, run, spec, versionId, log } = ctx;
  await timer.enter('indexing');
  const indexStarted = performance.now();
  // The checksum reads the written rows on a pooled connection while the attempt's own builds
  // their index (src/db/partitions.ts lets the two share the table): on two cores, side by side.
  // The same read sorts their values into the version's summary, which is all of a first
  // version's drift report: the core left idle once the checksum is done used to wait for the
  // report to sort them again after ATTACH (0.3 s of 1,000,000 keys' refresh).
  const summed = withStatisticsSettings(deps.db, false, undefined, (reader) =>
    summaryAndChecksum(reader, versionId),
  ).then((sums) => ({ ...sums, ms: Math.round(performance.now() - indexStarted) }));
  const attached = indexAndAttachPartition(client, versionId).then(() => performance.now());
  // The drift report reads the version's rows (through its primary key, to join another version's
  // keys), so it starts as soon as they are attached, beside whatever is left of the checksum. Not
  // sooner: the primary key's constraint and ATTACH lock the table for themselves and would wait
  // for it, which made writing + indexing 2,000,000 keys 1.37× the floor.
  const reported = attached.then(() =>
    reportAgainstPublished(deps.db, versionId, spec.drift, {
      candidateSummary: summed.then((sums) => sums.summary),
    }),
  );
  // awaited below; until then a failure must not count as unhandled
  reported.catch(() => {});
  const [indexed, sums] = await Promise.allSettled([attached, summed]);
  // on a failure, a report still reading ends first: a retry drops this table
  if (indexed.status === 'rejected' || sums.status === 'rejected') await reported.catch(() => {});
  if (indexed.status === 'rejected') throw indexed.reason;
  if (sums.status === 'rejected') throw sums.reason;
  timer.steps.indexAndAttach = Math.round(indexed.value - indexStarted);
  // From the first byte sent to COPY to the end of ATTACH: what the refresh benchmark compares
  // with a plain COPY and primary key of the same rows (for a sharded run, from its resume).
  timer.steps.writeAndIndex = Math.round(indexed.value - done.copyStarted);
  timer.steps.checksum = sums.value.ms;
  const { rowCount, checksum } = sums.value;
  await setVersionResults(fenced, versionId, { rowCount, checksum });

  await timer.enter('validating');
  // The report's queries run side by side on the pool, before the gate takes the model's lock; the
  // gate computes it again, in its transaction, only if another version was published meanwhile.
  const early = await reported;
  const decision = await fenced.transaction().execute((trx) =>
    decideInTransaction(trx, {
      spec,
      versionId,
      runId: run.id,
      actor: run.trigger,
      reason: `refresh ${run.slot} passed the drift gate`,
      early,
      onPublishing: () => timer.enter('publishing'),
      lineage: () => {
        // the last phase ends here, as its transaction is about to commit
        timer.stop();
        return {
          phasesMs: timer.timings,
          stepsMs: timer.steps,
          scoring: {
            rows: rowCount,
            skippedRows: done.counts.skippedRows,
            skippedKeys: done.counts.skippedKeys,
          },
        };
      },
    }),
  );
  await afterDecision({ ...deps, logger: log }, spec, decision);
  return { state: decision.state, model: spec.name, version: decision.version.number };
}

/**
 * Times the phases of an attempt and moves the run's phase and progress as it enters each. A
 * resumed sharded run starts from the times its first step recorded in the lineage.
 */
class PhaseTimer {
  readonly timings: Partial<Record<RunPhase, number>>;
  /** finer steps inside the phases, for operators and the refresh benchmark */
  readonly steps: Record<string, number>;
  readonly attempt: number;
  private readonly db: Db;
  private readonly runId: string;
  private readonly log: Logger;
  private current: RunPhase;
  private started = performance.now();

  constructor(
    db: Db,
    runId: string,
    attempt: number,
    log: Logger,
    phase: RunPhase = 'checking',
    recorded: {
      phasesMs?: Record<string, number> | undefined;
      stepsMs?: Record<string, number> | undefined;
    } = {},
  ) {
    this.db = db;
    this.runId = runId;
    this.attempt = attempt;
    this.log = log;
    this.current = phase;
    this.timings = { ...recorded.phasesMs };
    this.steps = { ...recorded.stepsMs };
  }

  async enter(next: RunPhase): Promise<void> {
    this.stop();
    this.current = next;
    this.started = performance.now();
    this.fixed = undefined;
    await setRunPhase(this.db, this.runId, this.attempt, next, phaseSpan[next][0]);
    this.log.info({ phase: next }, `refresh ${next}`);
  }

  get phase(): RunPhase {
    return this.current;
  }

  /** The current phase took this long, whatever this timer saw (a sharded run's children scored). */
  setPhaseTime(ms: number): void {
    this.fixed = Math.round(ms);
  }

  /** Ends the current phase's time. */
  stop(): void {
    this.timings[this.current] = this.fixed ?? Math.round(performance.now() - this.started);
  }

  private fixed: number | undefined;
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
