import type { Command } from 'commander';
import { z } from 'zod';
import { listApiKeys, revokeApiKey } from '../../db/api-keys.ts';
import { NotFoundError } from '../../errors.ts';
import { formatTime } from '../../format.ts';
import { apiKeyName, createApiKey, scopeName } from '../../keys/api-keys.ts';
import type { CliContext } from '../context.ts';
import { parseOptions } from '../options.ts';
import { formatTable } from '../table.ts';

export function registerKeys(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('manage API keys (stored as SHA-256; shown once)');

  keys
    .command('create')
    .description('create an API key and print it alone on stdout; it is never shown again')
    .requiredOption('--name <name>', 'a name for the key, recorded as the actor of what it does')
    .requiredOption('--scope <scope>', 'read (lookups, listings) or admin (also specs, runs, publish)')
    .action(async (raw: unknown) => {
      const options = parseOptions(z.object({ name: apiKeyName, scope: scopeName }), raw);
      const key = await createApiKey(ctx.db(), options.name, options.scope);
      ctx.print(key);
    });

  keys
    .command('list')
    .description('list API keys (names and scopes; keys themselves are never stored)')
    .action(async () => {
      const all = await listApiKeys(ctx.db());
      if (all.length === 0) {
        ctx.print('no API keys yet; create one with `almanac keys create --name NAME --scope admin`');
        return;
      }
      ctx.print(
        formatTable([
          ['NAME', 'SCOPES', 'CREATED', 'REVOKED'],
          ...all.map((k) => [k.name, k.scopes.join(','), formatTime(k.createdAt), formatTime(k.revokedAt)]),
        ]),
      );
    });

  keys
    .command('revoke')
    .description('revoke an API key at once')
    .argument('<name>', "the key's name")
    .action(async (name: string) => {
      const { NAME } = parseOptions(z.object({ NAME: apiKeyName }), { NAME: name });
      if (!(await revokeApiKey(ctx.db(), NAME))) {
        throw new NotFoundError(`no live API key named "${NAME}"; see \`almanac keys list\``);
      }
      ctx.print(`revoked key ${NAME}`);
    });
}
