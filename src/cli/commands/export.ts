import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { snapshotFormat, writeSnapshot } from '../../snapshots/write-snapshot.ts';
import { resolveVersion } from '../../versions/resolve.ts';
import { requireReadable, SERVED_STATES } from '../../versions/states.ts';
import { modelArgument, versionArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { startProgress } from '../progress.ts';

export function registerExport(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write a whole version (default: the published one) as CSV, NDJSON or Parquet')
    .argument('<model>', 'model name')
    .option('--version <n>', 'version number, or "latest" (default)')
    .option('--format <format>', 'csv (default), ndjson or parquet')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (model: string, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({
          MODEL: modelArgument,
          version: versionArgument.optional(),
          format: snapshotFormat.optional(),
          out: z.string().min(1).optional(),
        }),
        { MODEL: model, ...raw },
      );
      const version = await resolveVersion(ctx.db(), options.MODEL, options.version ?? 'latest');
      requireReadable(model, version, SERVED_STATES, 'it has no rows to export');
      const format = options.format ?? 'csv';
      const out = options.out === undefined ? ctx.io.stdout : createWriteStream(options.out);
      const progress = startProgress(ctx.io, `export ${model} v${version.number}`, 'bytes');
      let written = 0;
      const client = await ctx.pool().connect();
      try {
        await writeSnapshot(client, version.id, format, out, (bytes) => {
          written += bytes;
          // the size is not known in advance: about 60 bytes a row in CSV is the guess
          progress.update(written, Math.max(written, (version.rowCount ?? 0) * 60));
        });
      } finally {
        client.release();
        progress.stop();
      }
      if (options.out !== undefined) {
        ctx.io.stderr.write(
          `wrote ${version.rowCount ?? 0} rows of ${model} v${version.number} to ${options.out} (${written} bytes)\n`,
        );
      }
    });
}
