import type { Command } from 'commander';
import { z } from 'zod';
import { versionDetail, versionSummary } from '../../api/views.ts';
import { pinsOfVersion } from '../../db/pins.ts';
import { VERSION_STATES } from '../../db/types.ts';
import { listVersions } from '../../db/versions.ts';
import { formatNumber, formatTime } from '../../format.ts';
import { decisionReason, publishVersion, rejectVersion } from '../../versions/publish.ts';
import { requireModel, resolveVersion } from '../../versions/resolve.ts';
import {
  cliActor,
  limitOption,
  modelArgument,
  versionArgument,
  versionNumberArgument,
} from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { formatTable } from '../table.ts';

const states = VERSION_STATES;

export function registerVersions(program: Command, ctx: CliContext): void {
  program
    .command('versions')
    .description('list the versions of a model, newest first')
    .argument('<model>', 'model name')
    .option('--state <state>', `only versions in this state (${states.join(', ')})`)
    .option('--limit <n>', 'how many (default 20)')
    .option('--json', 'print JSON instead of a table')
    .action(async (model: string, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({
          MODEL: modelArgument,
          state: z.enum(states, { error: `must be one of ${states.join(', ')}` }).optional(),
          limit: limitOption.optional(),
          json: z.boolean().optional(),
        }),
        { MODEL: model, ...raw },
      );
      await requireModel(ctx.db(), options.MODEL);
      const versions = await listVersions(ctx.db(), options.MODEL, {
        limit: options.limit ?? 20,
        ...(options.state === undefined ? {} : { states: [options.state] }),
      });
      if (options.json) {
        // the API's own items (GET /v1/models/:model/versions), so a script reads either alike
        ctx.print(JSON.stringify(versions.map(versionSummary), null, 2));
        return;
      }
      if (versions.length === 0) {
        ctx.print(`no versions of ${options.MODEL} yet`);
        return;
      }
      ctx.print(
        formatTable([
          ['VERSION', 'STATE', 'KEYS', 'HOLDOUT MAE', 'NAIVE MAE', 'CREATED', 'PUBLISHED'],
          ...versions.map((v) => [
            `v${v.number}`,
            v.state,
            v.rowCount === null ? '-' : String(v.rowCount),
            formatNumber(v.metrics?.holdout.mae),
            formatNumber(v.metrics?.naive.mae),
            formatTime(v.createdAt),
            formatTime(v.publishedAt),
          ]),
        ]),
      );
    });

  program
    .command('show')
    .description(
      'show one version: state, lineage, metrics and gate verdict (VERSION is a number or "latest")',
    )
    .argument('<model>', 'model name')
    .argument('<version>', 'version number, or "latest" for the published one')
    .action(async (model: string, version: string) => {
      const args = parseOptions(z.object({ MODEL: modelArgument, VERSION: versionArgument }), {
        MODEL: model,
        VERSION: version,
      });
      const found = await resolveVersion(ctx.db(), args.MODEL, args.VERSION);
      // the API's own body (GET /v1/models/:model/versions/:version)
      ctx.print(JSON.stringify(versionDetail(found, await pinsOfVersion(ctx.db(), found.id)), null, 2));
    });

  for (const [name, verb, act] of [
    ['publish', 'publish a held version (approve) or a superseded one (roll back)', publishVersion],
    ['reject', 'reject a held version: it will never be published', rejectVersion],
  ] as const) {
    program
      .command(name)
      .description(verb)
      .argument('<model>', 'model name')
      .argument('<version>', 'version number')
      .option('--reason <text>', 'why, recorded with who did it')
      .action(async (model: string, version: string, raw: { reason?: string }) => {
        const args = parseOptions(
          z.object({
            MODEL: modelArgument,
            VERSION: versionNumberArgument,
            reason: decisionReason.optional(),
          }),
          { MODEL: model, VERSION: version, ...raw },
        );
        const { db, pool, logger } = ctx.runtime();
        const done = await act({ db, pool, logger }, args.MODEL, args.VERSION, {
          actor: cliActor(),
          reason: args.reason,
        });
        ctx.print(`${name === 'publish' ? 'published' : 'rejected'} version ${done.number} of ${done.model}`);
      });
  }
}
