import type { Command } from 'commander';
import { sql } from 'kysely';
import { startScheduler } from '../../../jobs/scheduler.ts';
import { startWorker } from '../../../jobs/worker.ts';
import { demoSpecFiles } from '../../../seeds/demo-specs.ts';
import { advanceMarket, currentMarket, seedMarket } from '../../../seeds/load-market.ts';
import { startApi } from '../../api/start.ts';
import { getConfig } from '../../config.ts';
import { deleteApiKey } from '../../db/api-keys.ts';
import type { RealizedAccuracy } from '../../db/realized.ts';
import { listVersions } from '../../db/versions.ts';
import { createApiKey } from '../../keys/api-keys.ts';
import { getLogger } from '../../logger.ts';
import { evaluateModel } from '../../pipeline/evaluate.ts';
import { requestRefresh } from '../../runs/request.ts';
import { cliActor } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { ExitCode } from '../describe-error.ts';
import { startProgress } from '../progress.ts';
import { migrate } from './migrate.ts';
import { applySpecFiles } from './models.ts';
import { untilStopped } from './processes.ts';
import { follow } from './runs.ts';
import { seedDefaults } from './seed.ts';

const MODELS = ['nasdaq-close', 'nasdaq-naive'] as const;

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'run the demo end to end on local Postgres and Redis, then serve it until Ctrl-C (a second run reuses the data)',
    )
    .action(async () => {
      ctx.print('1/6 migrating the database');
      await migrate(ctx);

      const market = await currentMarket(ctx.pool());
      if (market === undefined) {
        ctx.print(`2/6 seeding the demo market (${seedDefaults.keys} tickers × ${seedDefaults.days} days)`);
        const progress = startProgress(ctx.io, 'seed', 'rows');
        try {
          await seedMarket(ctx.pool(), seedDefaults, progress.update);
        } finally {
          progress.stop();
        }
      } else {
        ctx.print(
          `2/6 reusing the demo market (${market.keys} tickers × ${market.days} days, seed ${market.seed})`,
        );
      }

      ctx.print('3/6 applying the demo model specs');
      await applySpecFiles(ctx, await demoSpecFiles());

      const config = getConfig();
      const quiet = getLogger().child({}, { level: 'warn' });
      const worker = await startWorker({
        db: ctx.db(),
        pool: ctx.pool(),
        databaseUrl: config.databaseUrl,
        redisUrl: config.redisUrl,
        prefix: config.redisPrefix,
        concurrency: config.workerConcurrency,
        // the demo's own output tells the story; the processes only speak up when something is wrong
        logger: quiet,
      });
      const stops: (() => Promise<void>)[] = [worker.close];
      try {
        ctx.print('4/6 refreshing both models (a worker runs in this process)');
        for (const model of MODELS) await refresh(ctx, model);

        ctx.print('5/6 a new day of prices arrives: advancing the market and refreshing again');
        await advanceMarket(ctx.pool(), 1, undefined);
        for (const model of MODELS) await refresh(ctx, model);
        // The advance brought yesterday's actuals: how did the estimates served yesterday fare?
        for (const model of MODELS) {
          // (the worker may have measured it first: its evaluate job follows every refresh)
          await evaluateModel(ctx.db(), model, quiet);
          const versions = await listVersions(ctx.db(), model, { limit: 10 });
          const last = versions.find((v) => ((v.realized as RealizedAccuracy | null)?.rows ?? 0) > 0);
          if (last === undefined) continue;
          const { rows, mae, naiveMae } = last.realized as RealizedAccuracy;
          ctx.print(
            `  ${model} v${last.number} against the ${rows} actuals that arrived: MAE ${mae?.toFixed(3)}, naive's ${naiveMae?.toFixed(3)}`,
          );
        }
        ctx.print('6/6 starting the API and the scheduler');
        const api = await startApi(config, quiet);
        stops.unshift(api.close);
        const scheduler = await startScheduler({ db: ctx.db(), enqueue: await ctx.enqueue(), logger: quiet });
        stops.unshift(scheduler.close);
        const key = await demoKey(ctx);
        const { rows } = await sql<{
          key: string;
        }>`SELECT min(key) AS key FROM latest_estimates WHERE model = 'nasdaq-close'`.execute(ctx.db());
        const ticker = rows[0]?.key ?? 'AACHQ';
        const auth = config.auth ? ` -H "Authorization: Bearer ${key}"` : '';
        ctx.print('');
        ctx.print(`The API is up at ${api.url}, with an admin key for this demo:`);
        ctx.print(`  export ALMANAC_KEY=${key}`);
        ctx.print('Try:');
        ctx.print(`  curl -s${auth} ${api.url}/v1/models/nasdaq-close/estimates/${ticker}`);
        ctx.print(
          `  curl -s${auth} -X POST ${api.url}/v1/models/nasdaq-close/estimates/batch -H 'Content-Type: application/json' -d '{"keys": ["${ticker}", "NOPE"]}'`,
        );
        ctx.print(`  curl -s${auth} "${api.url}/v1/models/nasdaq-close/versions?limit=3"`);
        ctx.print(
          `  curl -s${auth} "${api.url}/v1/models/nasdaq-close/diff?from=1&to=latest&format=csv" | head`,
        );
        ctx.print(
          `Also: npx almanac diff nasdaq-close 1 latest, npx almanac evaluate nasdaq-close, ${api.url}/openapi.json, ${api.url}/metrics`,
        );
        ctx.print('Press Ctrl-C to stop.');
        const signal = await untilStopped(ctx.io.stop);
        ctx.print(`${signal}: stopping the API, the scheduler and the worker`);
      } finally {
        for (const stop of stops) await stop();
      }
    });
}

/** A fresh admin key named "demo" (the previous run's is replaced: keys are shown only once). */
async function demoKey(ctx: CliContext): Promise<string> {
  await deleteApiKey(ctx.db(), 'demo');
  return createApiKey(ctx.db(), 'demo', 'admin');
}

async function refresh(ctx: CliContext, model: string): Promise<void> {
  const { run } = await requestRefresh(ctx.db(), await ctx.enqueue(), { model, trigger: cliActor() });
  const code = await follow(ctx, run, 600_000);
  if (code === ExitCode.failure)
    throw new Error(`the refresh of ${model} failed; see \`almanac runs ${model}\``);
}
