import type { Command } from 'commander';
import { getConfig } from '../../config.ts';
import { ensureDatabase } from '../../db/ensure-database.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import type { CliContext } from '../context.ts';

export function registerMigrate(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description(
      'create the database if it is missing and bring its schema to the newest version (safe to repeat)',
    )
    .action(() => migrate(ctx));
}

/** Creates the database when missing and migrates it, saying what it did. */
export async function migrate(ctx: CliContext): Promise<void> {
  const { created } = await ensureDatabase(getConfig().databaseUrl);
  if (created) ctx.print(`created database ${new URL(getConfig().databaseUrl).pathname.slice(1)}`);
  const outcome = await migrateToLatest(ctx.db());
  ctx.print(
    outcome.alreadyCurrent
      ? 'schema is up to date'
      : `applied ${outcome.applied.length} migration(s): ${outcome.applied.join(', ')}`,
  );
}
