import type { Command } from 'commander';
import type { Logger } from 'pino';
import { z } from 'zod';
import { startScheduler } from '../../../jobs/scheduler.ts';
import { startWorker } from '../../../jobs/worker.ts';
import { demoSpecFiles } from '../../../seeds/demo-specs.ts';
import { advanceMarket, currentMarket, dropMarket, seedMarket } from '../../../seeds/load-market.ts';
import { startApi } from '../../api/start.ts';
import { deleteApiKey, listApiKeys } from '../../db/api-keys.ts';
import { firstKey } from '../../db/estimates.ts';
import { findModel } from '../../db/models.ts';
import { listVersions } from '../../db/versions.ts';
import { createApiKey } from '../../keys/api-keys.ts';
import { evaluateModel } from '../../pipeline/evaluate.ts';
import { requestRefresh } from '../../runs/request.ts';
import { deleteModel } from '../../versions/delete-model.ts';
import { cliActor } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-code.ts';
import { parseOptions } from '../options.ts';
import { startProgress } from '../progress.ts';
import { migrate } from './migrate.ts';
import { applySpecFiles } from './models.ts';
import { runProcess } from './processes.ts';
import { follow } from './runs.ts';
import { seedDefaults } from './seed.ts';

const MODELS = ['nasdaq-close', 'nasdaq-naive'] as const;
/** The model whose third version the demo's shocked day gets held. */
const HELD_MODEL = 'nasdaq-close';
const SHOCK_PCT = 30;
const KEY_NAME = 'demo';
/** The demo serves an admin key: on this machine only, whatever HOST says. */
const DEMO_HOST = '127.0.0.1';

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'run the demo end to end on local Postgres and Redis, then serve it until Ctrl-C; a second run serves what the first made',
    )
    .option('--fresh', "start over: delete the demo's models, its key and its market, then run it all again")
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(z.object({ fresh: z.boolean().optional() }).strict(), raw);
      // the runtime opens in the demo's role before anything uses it (it connects on first use)
      const runtime = ctx.runtime('demo');
      ctx.print(
        `Almanac's dashboard will be at ${dashboardUrl(`http://${DEMO_HOST}:${runtime.config.port}`)}`,
      );
      ctx.print('1/7 migrating the database');
      await migrate(ctx);
      if (options.fresh) await startOver(ctx);
      const present = await Promise.all(MODELS.map((name) => findModel(runtime.db, name)));
      const firstRun = present.every((model) => model === undefined);
      // the demo's own output tells the story; the processes only speak up when something is wrong
      const quiet = runtime.logger.child({}, { level: 'warn' });
      await runProcess(ctx, 'demo', [
        async () => {
          const worker = await startWorker(runtime, { logger: quiet });
          return worker.close;
        },
        async () => {
          if (firstRun) await setUp(ctx, quiet);
          else ctx.print('2/7 to 6/7 were done by an earlier run: serving what it made, as it is');
          ctx.print('7/7 starting the API, the dashboard and the scheduler');
          return async () => {};
        },
        async () => {
          const scheduler = await startScheduler({
            db: runtime.db,
            enqueue: runtime.producer().enqueueRefresh,
            logger: quiet,
          });
          return scheduler.close;
        },
        async () => {
          const api = await startApi({ ...runtime, logger: quiet }, { host: DEMO_HOST });
          await explain(ctx, api.url, firstRun);
          return async () => {
            ctx.print('stopping the API, the scheduler and the worker');
            await api.close();
          };
        },
      ]);
    });
}

/** Seeds the market, applies the specs, refreshes, advances a day and refreshes again (a worker runs). */
async function setUp(ctx: CliContext, quiet: Logger): Promise<void> {
  const { pool } = ctx.runtime('demo');
  if ((await currentMarket(pool)) === undefined) {
    ctx.print(`2/7 seeding the demo market (${seedDefaults.keys} tickers × ${seedDefaults.days} days)`);
    const progress = startProgress(ctx.io, 'seed', 'rows');
    try {
      await seedMarket(pool, seedDefaults, progress.update);
    } finally {
      progress.stop();
    }
  } else {
    ctx.print('2/7 reusing the demo market already in the database');
  }
  ctx.print('3/7 applying the demo model specs');
  await applySpecFiles(ctx, await demoSpecFiles());

  ctx.print('4/7 refreshing both models (a worker runs in this process)');
  for (const model of MODELS) await refresh(ctx, model);
  ctx.print('5/7 a new day of prices arrives: advancing the market and refreshing again');
  await advanceMarket(pool, 1);
  for (const model of MODELS) await refresh(ctx, model);
  await reportRealized(ctx, quiet);
  ctx.print(
    `6/7 a day when every price jumps ${SHOCK_PCT}%: ${HELD_MODEL} refreshes, and the drift gate holds its new version for approval`,
  );
  await advanceMarket(pool, 1, { shockPct: SHOCK_PCT });
  await refresh(ctx, HELD_MODEL);
  await reportRealized(ctx, quiet);
}

/** The advance brought the actuals of the day before: how did the estimates served then fare? */
async function reportRealized(ctx: CliContext, quiet: Logger): Promise<void> {
  const { db } = ctx.runtime('demo');
  for (const model of MODELS) {
    // (the worker may have measured it first: its evaluate job follows every refresh)
    await evaluateModel(db, model, quiet);
    const versions = await listVersions(db, model, { limit: 10 });
    const last = versions.find((v) => (v.realized?.rows ?? 0) > 0);
    if (last?.realized == null) continue;
    const { rows, mae, naiveMae } = last.realized;
    ctx.print(
      `  ${model} v${last.number} against the ${rows} actuals that arrived: MAE ${mae?.toFixed(3)}, naive's ${naiveMae?.toFixed(3)}`,
    );
  }
}

async function explain(ctx: CliContext, url: string, firstRun: boolean): Promise<void> {
  const { db, config } = ctx.runtime();
  const key = await demoKey(ctx);
  const ticker = (await firstKey(db, 'nasdaq-close')) ?? 'AACHQ';
  const auth = config.auth ? ' -H "Authorization: Bearer $ALMANAC_KEY"' : '';
  ctx.print('');
  ctx.print(`Almanac is up. The dashboard: ${dashboardUrl(url)}; the API reference: ${url}/docs`);
  const held = await listVersions(db, HELD_MODEL, { limit: 10, states: ['held'] });
  for (const version of held) {
    ctx.print(
      `  v${version.number} of ${HELD_MODEL} waits for approval: approve or reject it on ${url}/models/${HELD_MODEL}${!config.auth ? '' : key !== undefined ? ' (sign in with the key below)' : ' (sign in with an admin key)'}`,
    );
  }
  if (!config.auth) ctx.print('Auth is off (ALMANAC_AUTH=off): no key needed.');
  else if (key !== undefined) ctx.print(`An admin key for this demo (shown once): export ALMANAC_KEY=${key}`);
  else {
    ctx.print(
      `The admin key "${KEY_NAME}" made by the first run still works (keys are shown once); lost it? ` +
        '`npx almanac keys create --name me --scope admin` makes another.',
    );
  }
  ctx.print('Try:');
  ctx.print(`  curl -s${auth} ${url}/v1/models/nasdaq-close/estimates/${ticker}`);
  ctx.print(
    `  curl -s${auth} -X POST ${url}/v1/models/nasdaq-close/estimates/batch -H 'Content-Type: application/json' -d '{"keys": ["${ticker}", "NOPE"]}'`,
  );
  ctx.print(`  curl -s${auth} "${url}/v1/models/nasdaq-close/versions?limit=3"`);
  ctx.print(`  curl -s${auth} "${url}/v1/models/nasdaq-close/diff?from=1&to=latest&format=csv" | head`);
  ctx.print(
    `Also: npx almanac diff nasdaq-close 1 latest, npx almanac evaluate nasdaq-close, ${url}/openapi.json, ${url}/metrics`,
  );
  if (!firstRun)
    ctx.print('This is the demo an earlier run made; `npx almanac demo --fresh` starts it over.');
  ctx.print('Press Ctrl-C to stop. The dashboard:');
  ctx.print(dashboardUrl(url));
}

/** A new admin key named "demo" when there is none; an existing one is left alone (it may be in use). */
async function demoKey(ctx: CliContext): Promise<string | undefined> {
  const { db, config } = ctx.runtime();
  if (!config.auth) return undefined;
  const keys = await listApiKeys(db);
  const existing = keys.find((key) => key.name === KEY_NAME);
  if (existing !== undefined && existing.revokedAt === null) return undefined;
  if (existing !== undefined) await deleteApiKey(db, KEY_NAME);
  return createApiKey(db, KEY_NAME, 'admin');
}

/** `--fresh`: the demo's models, its key and its market go. */
async function startOver(ctx: CliContext): Promise<void> {
  const { db, pool } = ctx.runtime('demo');
  ctx.print('   --fresh: deleting the demo models, the demo key and the demo market');
  for (const model of MODELS)
    if ((await findModel(db, model)) !== undefined) await deleteModel(db, pool, model);
  await deleteApiKey(db, KEY_NAME);
  await dropMarket(pool);
}

const dashboardUrl = (url: string) => `${url}/`;

/** Refreshes a model and waits: a version the gate holds is what the shocked day is for. */
async function refresh(ctx: CliContext, model: string): Promise<void> {
  const producer = await ctx.producer();
  const { run } = await requestRefresh(ctx.db(), producer.enqueueRefresh, { model, trigger: cliActor() });
  const code = await follow(ctx, run, 600_000);
  if (code === ExitCode.failure)
    throw new Error(`the refresh of ${model} failed; see \`almanac runs ${model}\``);
}
