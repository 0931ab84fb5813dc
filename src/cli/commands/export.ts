import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { ValidationError } from '../../errors.ts';
import { snapshotFormat, writeSnapshot } from '../../snapshots/write-snapshot.ts';
import { versionWithRows } from '../../versions/resolve.ts';
import { modelArgument, versionArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { startProgress } from '../progress.ts';

export function registerExport(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write a whole version (default: the published one) as CSV, NDJSON or Parquet')
    .argument('<model>', 'model name')
    .option('--version <n>', 'version number, or "latest" (default); held and rejected versions too')
    .option('--format <format>', 'csv (default), ndjson or parquet')
    .option('--out <file>', 'write to a file instead of stdout')
    .addHelpText(
      'after',
      '\nThe same bytes as GET /v1/models/MODEL/versions/N/snapshot. A pruned version exits 1 saying so.',
    )
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
      const version = await versionWithRows(ctx.db(), options.MODEL, options.version ?? 'latest');
      const format = options.format ?? 'csv';
      // opened before a row is read: a path that cannot be written is said at once, in one line
      const file =
        options.out === undefined
          ? undefined
          : await open(options.out, 'w').catch((error: NodeJS.ErrnoException) => {
              throw new ValidationError([
                {
                  path: '--out',
                  message: `${options.out} cannot be written (${error.code ?? error.message})`,
                },
              ]);
            });
      const out = file === undefined ? ctx.io.stdout : file.createWriteStream();
      const rowsTotal = version.rowCount ?? 0;
      const progress = startProgress(ctx.io, `export ${model} v${version.number}`, 'rows');
      let bytes = 0;
      let rows = 0;
      const client = await ctx.pool().connect();
      // a COPY cut off mid-stream leaves its connection unusable: it is closed, not pooled
      let broken: Error | undefined;
      try {
        await writeSnapshot(client, version, format, out, (written, rowsWritten) => {
          bytes += written;
          rows = Math.min(rowsTotal, rows + rowsWritten);
          progress.update(rows, rowsTotal, formatBytes(bytes));
        });
        progress.update(rowsTotal, rowsTotal, formatBytes(bytes));
      } catch (error) {
        broken = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        client.release(broken);
        progress.stop();
      }
      if (options.out !== undefined) {
        ctx.io.stderr.write(
          `wrote ${rowsTotal} rows of ${model} v${version.number} to ${options.out} (${bytes} bytes)\n`,
        );
      }
    });
}

/** Bytes as a person reads them: 812 B, 3.4 MB. */
function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
