import type { Command } from 'commander';
import { startWorker } from '../../../jobs/worker.ts';
import { demoSpecFiles } from '../../../seeds/demo-specs.ts';
import { advanceMarket, currentMarket, seedMarket } from '../../../seeds/load-market.ts';
import { getConfig } from '../../config.ts';
import { getLogger } from '../../logger.ts';
import { requestRefresh } from '../../runs/request.ts';
import { cliActor } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { ExitCode } from '../describe-error.ts';
import { startProgress } from '../progress.ts';
import { migrate } from './migrate.ts';
import { applySpecFiles } from './models.ts';
import { follow } from './runs.ts';
import { seedDefaults } from './seed.ts';

const MODELS = ['nasdaq-close', 'nasdaq-naive'] as const;

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('run the demo end to end on local Postgres and Redis (a second run reuses the data)')
    .action(async () => {
      ctx.print('1/5 migrating the database');
      await migrate(ctx);

      const market = await currentMarket(ctx.pool());
      if (market === undefined) {
        ctx.print(`2/5 seeding the demo market (${seedDefaults.keys} tickers × ${seedDefaults.days} days)`);
        const progress = startProgress(ctx.io, 'seed', 'rows');
        try {
          await seedMarket(ctx.pool(), seedDefaults, progress.update);
        } finally {
          progress.stop();
        }
      } else {
        ctx.print(
          `2/5 reusing the demo market (${market.keys} tickers × ${market.days} days, seed ${market.seed})`,
        );
      }

      ctx.print('3/5 applying the demo model specs');
      await applySpecFiles(ctx, await demoSpecFiles());

      const config = getConfig();
      const worker = await startWorker({
        db: ctx.db(),
        pool: ctx.pool(),
        databaseUrl: config.databaseUrl,
        redisUrl: config.redisUrl,
        prefix: config.redisPrefix,
        concurrency: config.workerConcurrency,
        // the demo's own output tells the story; the worker only speaks up when something is wrong
        logger: getLogger().child({}, { level: 'warn' }),
      });
      try {
        ctx.print('4/5 refreshing both models (a worker runs in this process)');
        for (const model of MODELS) await refresh(ctx, model);

        ctx.print('5/5 a new day of prices arrives: advancing the market and refreshing again');
        await advanceMarket(ctx.pool(), 1, undefined);
        for (const model of MODELS) await refresh(ctx, model);
      } finally {
        await worker.close();
      }

      ctx.print('');
      ctx.print('Done. Look around:');
      ctx.print("  npx almanac versions nasdaq-close         # versions, holdout MAE beside naive's");
      ctx.print('  npx almanac show nasdaq-close latest      # lineage, metrics, gate verdict');
      ctx.print(`  psql ${config.databaseUrl} -c "SELECT * FROM latest_estimates LIMIT 5"`);
      ctx.print(
        'Run a worker (`npx almanac worker`) and a scheduler (`npx almanac scheduler`) to refresh nightly.',
      );
      ctx.print('The HTTP API and the full drift report come in the next releases.');
    });
}

async function refresh(ctx: CliContext, model: string): Promise<void> {
  const { run } = await requestRefresh(ctx.db(), await ctx.enqueue(), { model, trigger: cliActor() });
  const code = await follow(ctx, run, 600_000);
  if (code === ExitCode.failure)
    throw new Error(`the refresh of ${model} failed; see \`almanac runs ${model}\``);
}
