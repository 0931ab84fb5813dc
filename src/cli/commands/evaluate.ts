import type { Command } from 'commander';
import { z } from 'zod';
import { listVersions } from '../../db/versions.ts';
import { formatNumber } from '../../format.ts';
import { getLogger } from '../../logger.ts';
import { evaluateModel } from '../../pipeline/evaluate.ts';
import { modelArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { formatTable } from '../table.ts';

export function registerEvaluate(program: Command, ctx: CliContext): void {
  program
    .command('evaluate')
    .description("measure each version's estimates against the actuals that have arrived (realized accuracy)")
    .argument('<model>', 'model name')
    .option('--json', 'print JSON instead of a table')
    .addHelpText(
      'after',
      "\nThe worker does this after every refresh. Each version's estimates are joined on (key, as_of)\n" +
        "with the source rows whose target is now filled in; naive's error on the same rows is beside.\n" +
        'The figures are stored on each version (`almanac show`, GET .../versions/N: "realized").',
    )
    .action(async (model: string, raw: { json?: boolean }) => {
      const options = parseOptions(z.object({ MODEL: modelArgument, json: z.boolean().optional() }), {
        MODEL: model,
        ...raw,
      });
      const outcome = await evaluateModel(ctx.db(), options.MODEL, getLogger());
      if (options.json) {
        ctx.print(JSON.stringify(outcome, null, 2));
        return;
      }
      const versions = await listVersions(ctx.db(), options.MODEL, { limit: 50 });
      const measured = versions.flatMap((v) => (v.realized === null ? [] : [{ ...v, realized: v.realized }]));
      if (measured.length === 0) {
        ctx.print(`no version of ${options.MODEL} has been measured yet`);
      } else {
        ctx.print(
          formatTable([
            [
              'VERSION',
              'STATE',
              'MEASURED',
              'MAE',
              'RMSE',
              'BIAS',
              'IN INTERVAL',
              'NAIVE MAE',
              'MAE / NAIVE',
            ],
            ...measured.map((v) => {
              const r = v.realized;
              return [
                `v${v.number}`,
                v.state,
                `${r.rows}/${r.keys}`,
                formatNumber(r.mae),
                formatNumber(r.rmse),
                formatNumber(r.bias),
                formatNumber(r.intervalCoverage),
                formatNumber(r.naiveMae),
                formatNumber(r.maeRatioToNaive),
              ];
            }),
          ]),
        );
      }
      for (const { version, reason } of outcome.skipped) ctx.print(`v${version} not measured: ${reason}`);
    });
}
