import type { Command } from 'commander';
import { z } from 'zod';
import { advanceMarket, type LoadResult, seedMarket } from '../../../seeds/load-market.ts';
import { MAX_KEYS } from '../../../seeds/market.ts';
import { getConfig } from '../../config.ts';
import { ensureDatabase } from '../../db/ensure-database.ts';
import { UsageError } from '../../errors.ts';
import { wholeNumber } from '../../whole-number.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { startProgress } from '../progress.ts';

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((value) => new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'is not a real date');

export const seedDefaults = { keys: 5000, days: 120, seed: 42, start: '2026-01-01' } as const;

const seedOptions = z
  .object({
    keys: wholeNumber(1, MAX_KEYS).optional(),
    days: wholeNumber(1, 3650).optional(),
    seed: wholeNumber(0, 2 ** 31 - 1).optional(),
    start: isoDate.optional(),
    advance: wholeNumber(1, 3650).optional(),
    shock: z.coerce
      .number({ error: 'must be a percentage from -90 to 1000' })
      .min(-90, 'must be a percentage from -90 to 1000')
      .max(1000, 'must be a percentage from -90 to 1000')
      .optional(),
  })
  .strict();

export function registerSeed(program: Command, ctx: CliContext): void {
  program
    .command('seed')
    .description(
      'create (or replace) the deterministic demo market demo.daily_prices, or advance it by some days',
    )
    .option('--keys <n>', `number of tickers (default ${seedDefaults.keys})`)
    .option('--days <d>', `number of days (default ${seedDefaults.days})`)
    .option('--seed <s>', `random seed (default ${seedDefaults.seed})`)
    .option('--start <date>', `first day, YYYY-MM-DD (default ${seedDefaults.start})`)
    .option('--advance <k>', 'append K days to the existing market and fill in the actuals of its newest day')
    .option(
      '--shock <pct>',
      "with --advance: shift the advanced days' prices by PCT percent (trips the drift gate)",
    )
    .addHelpText(
      'after',
      '\nThe same --seed, --keys, --start and --days give byte-identical data, and --days D then --advance K\n' +
        'gives exactly what --days D+K gives.',
    )
    .action(async (raw: Record<string, string | undefined>) => {
      const options = parseOptions(seedOptions, raw);
      if (options.advance !== undefined) {
        const fixed = (['keys', 'days', 'seed', 'start'] as const).filter(
          (name) => options[name] !== undefined,
        );
        if (fixed.length > 0) {
          throw new UsageError(
            `--advance continues the existing market, whose ${fixed.join(', ')} cannot change; drop ${fixed.map((n) => `--${n}`).join(', ')}`,
          );
        }
      } else if (options.shock !== undefined) {
        throw new UsageError('--shock only applies with --advance');
      }
      await ensureDatabase(getConfig().databaseUrl);
      const progress = startProgress(ctx.io, options.advance === undefined ? 'seed' : 'advance', 'rows');
      const started = performance.now();
      let result: LoadResult;
      try {
        result =
          options.advance === undefined
            ? await seedMarket(ctx.pool(), { ...seedDefaults, ...options }, progress.update)
            : await advanceMarket(ctx.pool(), options.advance, options.shock, progress.update);
      } finally {
        progress.stop();
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const { params } = result;
      ctx.print(
        `${options.advance === undefined ? 'seeded' : 'advanced'} demo.daily_prices: ${result.rows} rows in ${seconds} s; ` +
          `now ${params.keys} tickers × ${params.days} days (${result.firstDay} to ${result.lastDay}, seed ${params.seed})`,
      );
    });
}
