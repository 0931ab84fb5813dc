import type { Command } from 'commander';
import { z } from 'zod';
import { modelEntryOf } from '../../api/catalog.ts';
import { estimateBody, missingKeyDetail } from '../../api/estimate-answer.ts';
import { instantText, keySchema } from '../../api/params.ts';
import { requestOf } from '../../api/routes/estimates.ts';
import { pickServed } from '../../api/served-version.ts';
import { publicationView } from '../../api/views.ts';
import { listModelStates } from '../../db/catalog-state.ts';
import { findEstimate } from '../../db/estimates.ts';
import { listPublications } from '../../db/publications.ts';
import { NotFoundError } from '../../errors.ts';
import { requireModel } from '../../versions/resolve.ts';
import { limitOption, modelArgument, versionArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { formatTable } from '../table.ts';

/** `history`: which version was live when; `lookup`: one estimate, as the API would answer it. */
export function registerHistory(program: Command, ctx: CliContext): void {
  program
    .command('history')
    .description('list when each version of a model was published, newest first')
    .argument('<model>', 'model name')
    .option('--limit <n>', 'how many (default 20)')
    .option('--json', 'print JSON instead of a table')
    .action(async (model: string, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({ MODEL: modelArgument, limit: limitOption.optional(), json: z.boolean().optional() }),
        { MODEL: model, ...raw },
      );
      await requireModel(ctx.db(), options.MODEL);
      const intervals = await listPublications(ctx.db(), options.MODEL, { limit: options.limit ?? 20 });
      if (options.json) {
        ctx.print(JSON.stringify(intervals.map(publicationView), null, 2));
        return;
      }
      if (intervals.length === 0) {
        ctx.print(`${options.MODEL} has never published a version`);
        return;
      }
      ctx.print(
        formatTable([
          ['VERSION', 'FROM', 'TO', 'BY', 'REASON'],
          ...intervals.map((interval) => [
            `v${interval.version}`,
            interval.validFrom.toISOString(),
            interval.validTo === null ? 'now' : interval.validTo.toISOString(),
            interval.actor,
            interval.reason ?? '',
          ]),
        ]),
      );
    });

  program
    .command('lookup')
    .description(
      'print one estimate as JSON: from the published version, a pinned one, or the one published at a time',
    )
    .argument('<model>', 'model name')
    .argument('<key>', 'the key')
    .option('--version <n>', 'a version number, or "latest" (the default)')
    .option('--at <time>', 'the version published at this time (RFC 3339, e.g. 2026-05-01T16:00:00Z)')
    .action(async (model: string, key: string, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z
          .object({
            MODEL: modelArgument,
            KEY: keySchema,
            version: versionArgument.optional(),
            at: instantText.optional(),
          })
          .refine((o) => o.version === undefined || o.at === undefined, {
            error: 'give --version or --at, not both',
            path: ['at'],
          }),
        { MODEL: model, KEY: key, ...raw },
      );
      await requireModel(ctx.db(), options.MODEL);
      const [state] = await listModelStates(ctx.db(), options.MODEL);
      if (state === undefined) throw new NotFoundError(`model "${options.MODEL}" does not exist`);
      const served = pickServed(modelEntryOf(state), requestOf(options));
      const { version } = served;
      const row = await findEstimate(ctx.runtime().pool, version.id, options.KEY);
      if (row === undefined)
        throw new NotFoundError(missingKeyDetail(options.MODEL, version.number, options.KEY));
      ctx.print(JSON.stringify(estimateBody(options.MODEL, version.number, row, served.stale)));
    });
}
