import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Db } from '../src/db/database.ts';
import { listModels, type Model } from '../src/db/models.ts';
import { findRunBySlot } from '../src/db/runs.ts';
import { cronOf, nextTick } from '../src/model/schedule.ts';
import { type EnqueueRefresh, requestRefresh, slotOf } from '../src/runs/request.ts';
import { isScheduled as isSpecScheduled } from '../src/runs/scheduled.ts';

export type SchedulerDeps = {
  db: Db;
  enqueue: EnqueueRefresh;
  logger: Logger;
  /** how often specs are re-read, so that applied or paused specs are picked up */
  pollMs?: number;
  now?: () => Date;
};

export type RunningScheduler = {
  /** the scheduled models and their cron, for status and tests */
  scheduled: () => Map<string, string>;
  /** when each scheduled model's cron fires next */
  nextRuns: () => Map<string, Date>;
  /** requests one model's slot for a tick (what a cron firing does) */
  tick: (model: string, at: Date) => Promise<void>;
  /** re-reads the specs now */
  sync: () => Promise<void>;
  close: () => Promise<void>;
};

const isScheduled = (model: Model) => isSpecScheduled(model.spec);
const signatureOf = (model: Model) => `${model.spec.schedule.cron}|${model.spec.schedule.timezone}`;

type Entry = { signature: string; task: ScheduledTask; model: Model };

/**
 * node-cron fires each model's cron in its time zone and requests that slot. Specs are re-read
 * every `pollMs`. On start, each model's latest tick missed while no scheduler ran is requested
 * once. Any number of schedulers may run: the runs row makes each slot run once.
 */
export async function startScheduler(deps: SchedulerDeps): Promise<RunningScheduler> {
  const { db, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const entries = new Map<string, Entry>();
  let closed = false;

  const tick = async (model: string, at: Date) => {
    const slot = slotOf(at);
    try {
      const { run, created } = await requestRefresh(db, deps.enqueue, { model, slot, trigger: 'cron' });
      logger.info(
        { model, slot, runId: run.id, created },
        created ? 'refresh requested' : 'slot already requested',
      );
    } catch (error) {
      logger.error({ err: error, model, slot }, 'could not request a refresh');
    }
  };

  const sync = async () => {
    const models = (await listModels(db)).filter(isScheduled);
    const wanted = new Map(models.map((model) => [model.name, model]));
    for (const [name, entry] of entries) {
      const model = wanted.get(name);
      if (model === undefined || signatureOf(model) !== entry.signature) {
        await entry.task.destroy();
        entries.delete(name);
        logger.info({ model: name }, 'unscheduled');
      }
    }
    for (const model of models) {
      if (entries.has(model.name)) continue;
      const { cron: expression, timezone } = model.spec.schedule;
      const task = cron.schedule(expression, (context) => tick(model.name, context.date), {
        name: `refresh.${model.name}`,
        timezone,
        noOverlap: false,
      });
      // A tick that fired late (a pause, a busy loop) is reported as missed: request it all the same.
      task.on('execution:missed', (context) => tick(model.name, context.date));
      entries.set(model.name, { signature: signatureOf(model), task, model });
      const nextRun = nextTick(model.spec.schedule, now()).toISOString();
      logger.info(
        { model: model.name, cron: expression, timezone, nextRun },
        `scheduled; next run ${nextRun}`,
      );
    }
  };

  /** The newest tick at or before now, if the model existed then and no run has that slot. */
  const catchUp = async () => {
    for (const model of (await listModels(db)).filter(isScheduled)) {
      const previous = cronOf(model.spec.schedule, now()).prev().toDate();
      if (previous < model.createdAt) continue;
      if ((await findRunBySlot(db, model.name, slotOf(previous))) !== undefined) continue;
      logger.info(
        { model: model.name, slot: slotOf(previous) },
        'catching up a slot missed while no scheduler ran',
      );
      await tick(model.name, previous);
    }
  };

  // One sync at a time: overlapping ones could schedule a model twice and lose track of a task.
  let syncing: Promise<void> = Promise.resolve();
  const serialSync = () => {
    syncing = syncing
      .then(sync)
      .catch((error: unknown) => logger.error({ err: error }, 'could not re-read the specs'));
    return syncing;
  };

  await serialSync();
  await catchUp();
  const poller = setInterval(() => {
    if (!closed) void serialSync();
  }, deps.pollMs ?? 10_000);

  return {
    scheduled: () => new Map([...entries].map(([name, entry]) => [name, entry.signature])),
    nextRuns: () =>
      new Map([...entries].map(([name, entry]) => [name, nextTick(entry.model.spec.schedule, now())])),
    tick,
    sync: serialSync,
    close: async () => {
      closed = true;
      clearInterval(poller);
      await syncing;
      for (const entry of entries.values()) await entry.task.destroy();
      entries.clear();
    },
  };
}
