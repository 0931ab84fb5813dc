import type { Command } from 'commander';
import { z } from 'zod';
import { resolveDiff } from '../../drift/diff.ts';
import { driftReport } from '../../drift/report.ts';
import { modelArgument, versionArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { reportText } from '../drift-text.ts';
import { parseOptions } from '../options.ts';

export function registerDiff(program: Command, ctx: CliContext): void {
  program
    .command('diff')
    .description("the drift report of version B against version A, under the model's drift policy")
    .argument('<model>', 'model name')
    .argument('<a>', 'the baseline: a version number, or "latest" for the published one')
    .argument('<b>', 'the candidate: a version number, or "latest"')
    .option('--json', "print the whole report as JSON (the API's body)")
    .addHelpText(
      'after',
      '\nComputed in Postgres over both versions; nothing is published or stored. Per-key changes:\n' +
        'GET /v1/models/MODEL/diff?from=A&to=B&format=csv.',
    )
    .action(async (model: string, a: string, b: string, raw: { json?: boolean }) => {
      const args = parseOptions(
        z.object({
          MODEL: modelArgument,
          A: versionArgument,
          B: versionArgument,
          json: z.boolean().optional(),
        }),
        { MODEL: model, A: a, B: b, ...raw },
      );
      const diff = await resolveDiff(ctx.db(), args.MODEL, args.A, args.B);
      const report = await driftReport(ctx.db(), diff.from, diff.to, diff.policy);
      ctx.print(args.json ? JSON.stringify(report, null, 2) : reportText(report));
    });
}
