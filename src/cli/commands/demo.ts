import type { Command } from 'commander';
import { demoSpecFiles } from '../../../seeds/demo-specs.ts';
import { currentMarket, seedMarket } from '../../../seeds/load-market.ts';
import type { CliContext } from '../context.ts';
import { startProgress } from '../progress.ts';
import { migrate } from './migrate.ts';
import { applySpecFiles } from './models.ts';
import { seedDefaults } from './seed.ts';

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('set up the demo end to end on local Postgres and Redis (a second run reuses the data)')
    .action(async () => {
      ctx.print('1/3 migrating the database');
      await migrate(ctx);

      const market = await currentMarket(ctx.pool());
      if (market === undefined) {
        ctx.print(`2/3 seeding the demo market (${seedDefaults.keys} tickers × ${seedDefaults.days} days)`);
        const progress = startProgress(ctx.io, 'seed', 'rows');
        try {
          await seedMarket(ctx.pool(), seedDefaults, progress.update);
        } finally {
          progress.stop();
        }
      } else {
        ctx.print(
          `2/3 reusing the demo market (${market.keys} tickers × ${market.days} days, seed ${market.seed})`,
        );
      }

      ctx.print('3/3 applying the demo model specs');
      await applySpecFiles(ctx, await demoSpecFiles());

      ctx.print('');
      ctx.print('The demo market and models are ready: try `npx almanac models list`.');
      ctx.print('This release has the foundation only: the refresh pipeline, the HTTP API and drift checks');
      ctx.print('land in the next releases, and the demo will then run refreshes and serve estimates too.');
    });
}
