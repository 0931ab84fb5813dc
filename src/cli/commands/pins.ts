import type { Command } from 'commander';
import { z } from 'zod';
import { futureInstant } from '../../api/params.ts';
import { pinView } from '../../api/views.ts';
import { formatTime } from '../../format.ts';
import { consumerName, modelPins, pinNote, pinVersion, unpinVersion } from '../../versions/pins.ts';
import { modelArgument, versionNumberArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { formatTable } from '../table.ts';

/** `pins`, `pin`, `unpin`: who depends on which version, so retention keeps it. */
export function registerPins(program: Command, ctx: CliContext): void {
  program
    .command('pins')
    .description('list who pins which version of a model (retention keeps pinned versions)')
    .argument('<model>', 'model name')
    .option('--json', 'print JSON instead of a table')
    .action(async (model: string, raw: Record<string, unknown>) => {
      const options = parseOptions(z.object({ MODEL: modelArgument, json: z.boolean().optional() }), {
        MODEL: model,
        ...raw,
      });
      const pins = await modelPins(ctx.db(), options.MODEL);
      if (options.json) {
        ctx.print(JSON.stringify(pins.map(pinView), null, 2));
        return;
      }
      if (pins.length === 0) {
        ctx.print(`no pins on ${options.MODEL}`);
        return;
      }
      ctx.print(
        formatTable([
          ['CONSUMER', 'VERSION', 'EXPIRES', 'PINNED', 'NOTE'],
          ...pins.map((pin) => [
            pin.consumer,
            `v${pin.version}`,
            pin.expiresAt === null
              ? 'never'
              : `${formatTime(pin.expiresAt)}${pin.expired ? ' (expired)' : ''}`,
            formatTime(pin.createdAt),
            pin.note ?? '',
          ]),
        ]),
      );
    });

  program
    .command('pin')
    .description('pin a consumer to a version: retention keeps it until the pin expires or is removed')
    .argument('<model>', 'model name')
    .argument('<consumer>', 'who depends on it (a service, a report), e.g. billing-service')
    .argument('<version>', 'version number')
    .option('--expires <time>', 'when the pin ends (RFC 3339, e.g. 2027-01-31T00:00:00Z); default never')
    .option('--note <text>', 'why it is pinned')
    .action(async (model: string, consumer: string, version: string, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({
          MODEL: modelArgument,
          CONSUMER: consumerName,
          VERSION: versionNumberArgument,
          expires: futureInstant.optional(),
          note: pinNote.optional(),
        }),
        { MODEL: model, CONSUMER: consumer, VERSION: version, ...raw },
      );
      const { pin, created } = await pinVersion(ctx.db(), options.MODEL, options.CONSUMER, {
        version: options.VERSION,
        expiresAt: options.expires ?? null,
        note: options.note ?? null,
      });
      const until = pin.expiresAt === null ? '' : ` until ${pin.expiresAt.toISOString()}`;
      ctx.print(
        `${created ? 'pinned' : 'moved the pin of'} ${pin.consumer} to version ${pin.version} of ${options.MODEL}${until}`,
      );
    });

  program
    .command('unpin')
    .description("remove a consumer's pin")
    .argument('<model>', 'model name')
    .argument('<consumer>', 'the consumer')
    .action(async (model: string, consumer: string) => {
      const options = parseOptions(z.object({ MODEL: modelArgument, CONSUMER: consumerName }), {
        MODEL: model,
        CONSUMER: consumer,
      });
      await unpinVersion(ctx.db(), options.MODEL, options.CONSUMER);
      ctx.print(`removed the pin of ${options.CONSUMER} on ${options.MODEL}`);
    });
}
