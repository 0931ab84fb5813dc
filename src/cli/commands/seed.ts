import type { Command } from 'commander';
import { z } from 'zod';
import { advanceMarket, type LoadResult, seedMarket } from '../../../seeds/load-market.ts';
import { MAX_KEYS } from '../../../seeds/market.ts';
import { getConfig } from '../../config.ts';
import { ensureDatabase } from '../../db/ensure-database.ts';
import { UsageError } from '../../errors.ts';
import { wholeNumber } from '../../whole-number.ts';
import type { CliContext } from '../context.ts';
import { flagName, parseOptions } from '../options.ts';
import { startProgress } from '../progress.ts';

// zod's calendar check (no 2026-02-30), and a span that keeps every seeded day (up to 3650, and
// 3650 more advanced) inside the years Postgres and ISO 8601 both write with four digits
const START_DATES = 'must be a real date from 1900-01-01 to 2999-12-31, as YYYY-MM-DD';
const isoDate = z.iso
  .date({ error: START_DATES })
  .refine((value) => value >= '1900-01-01' && value <= '2999-12-31', START_DATES);

/** A percentage from `min` to `max`, fractions allowed. */
const percentage = (min: number, max: number) => {
  const message = `must be a percentage from ${min} to ${max}`;
  return z.coerce.number({ error: message }).min(min, message).max(max, message);
};

export const seedDefaults = { keys: 5000, days: 120, seed: 42, start: '2026-01-01' } as const;

const seedOptions = z
  .object({
    keys: wholeNumber(1, MAX_KEYS).optional(),
    days: wholeNumber(1, 3650).optional(),
    seed: wholeNumber(0, 2 ** 31 - 1).optional(),
    start: isoDate.optional(),
    advance: wholeNumber(1, 3650).optional(),
    shock: percentage(-90, 1000).optional(),
    dropKeys: percentage(0, 100).optional(),
    nullShare: percentage(0, 100).optional(),
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
    .option('--drop-keys <pct>', 'with --advance: leave PCT percent of the tickers out of each advanced day')
    .option(
      '--null-share <pct>',
      "with --advance: make PCT percent of each feature's values null on each advanced day",
    )
    .addHelpText(
      'after',
      '\nThe same --seed, --keys, --start and --days give byte-identical data, and --days D then --advance K\n' +
        'gives exactly what --days D+K gives. --drop-keys and --null-share make bad days on purpose (to trip\n' +
        "a model's input checks): the same arguments spoil the same rows.",
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
      } else {
        const advanceOnly = (['shock', 'dropKeys', 'nullShare'] as const).filter(
          (name) => options[name] !== undefined,
        );
        if (advanceOnly.length > 0) {
          const verb = advanceOnly.length === 1 ? 'applies' : 'apply';
          throw new UsageError(`${advanceOnly.map(flagName).join(', ')} only ${verb} with --advance`);
        }
      }
      await ensureDatabase(getConfig().databaseUrl);
      const progress = startProgress(ctx.io, options.advance === undefined ? 'seed' : 'advance', 'rows');
      const started = performance.now();
      let result: LoadResult;
      try {
        result =
          options.advance === undefined
            ? await seedMarket(ctx.pool(), { ...seedDefaults, ...options }, progress.update)
            : await advanceMarket(
                ctx.pool(),
                options.advance,
                { shockPct: options.shock, dropKeysPct: options.dropKeys, nullSharePct: options.nullShare },
                progress.update,
              );
      } finally {
        progress.stop();
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const { params } = result;
      ctx.print(
        `${options.advance === undefined ? 'seeded' : 'advanced'} demo.daily_prices: ${result.rows} rows in ${seconds} s; ` +
          `now ${params.keys} tickers × ${params.days} days (${result.firstDay} to ${result.lastDay}, seed ${params.seed})` +
          spoiled(options.dropKeys, options.nullShare),
      );
    });
}

/** What a bad day's flags did, said after the rest. */
function spoiled(dropKeys: number | undefined, nullShare: number | undefined): string {
  const done = [
    ...(dropKeys ? [`${dropKeys}% of the tickers left out`] : []),
    ...(nullShare ? [`${nullShare}% of each feature's values null`] : []),
  ];
  return done.length === 0 ? '' : `; on each advanced day, ${done.join(' and ')}`;
}
