import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { getConfig } from '../../config.ts';
import { ValidationError } from '../../errors.ts';
import { importCsv } from '../../imports/import-csv.ts';
import { cliActor, modelArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { printHeld } from '../drift-text.ts';
import { ExitCode } from '../exit-code.ts';
import { parseOptions } from '../options.ts';

export function registerImport(program: Command, ctx: CliContext): void {
  program
    .command('import')
    .description(
      'import a CSV (key,value[,lower,upper][,as_of] with a header) as a new version of an external model',
    )
    .argument('<model>', 'an external model')
    .argument('<file>', 'the CSV file')
    .addHelpText(
      'after',
      '\nThe whole file is checked first; any bad row rejects it, listing up to 100 problems with their\n' +
        'lines (the header is line 1). Exit 0: published; 3: held by the drift gate; 1: rejected.',
    )
    .action(async (model: string, file: string) => {
      const args = parseOptions(z.object({ MODEL: modelArgument, FILE: z.string().min(1) }), {
        MODEL: model,
        FILE: file,
      });
      const size = await stat(args.FILE).then(
        (found) => {
          if (!found.isFile()) throw new ValidationError([{ path: args.FILE, message: 'is not a file' }]);
          return found.size;
        },
        (error: NodeJS.ErrnoException) => {
          throw new ValidationError([
            { path: args.FILE, message: `cannot be read (${error.code ?? error.message})` },
          ]);
        },
      );
      const limit = getConfig().maxImportBytes;
      if (size > limit) {
        throw new ValidationError([
          { path: args.FILE, message: `is ${size} bytes; the limit is ${limit} (ALMANAC_MAX_IMPORT_BYTES)` },
        ]);
      }
      const outcome = await importCsv(ctx.runtime(), args.MODEL, createReadStream(args.FILE), cliActor());
      const { version } = outcome;
      if (outcome.state === 'held') {
        printHeld(ctx, version);
        ctx.exitCode = ExitCode.held;
        return;
      }
      ctx.print(`published version ${version.number} of ${version.model} (${version.rowCount} keys)`);
    });
}
