import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileMigrationProvider, type MigrationResult, Migrator } from 'kysely/migration';
import type { Db } from './database.ts';

export const migrationsFolder = fileURLToPath(new URL('../../migrations/', import.meta.url));

export type MigrationOutcome = { applied: string[]; alreadyCurrent: boolean };

/** Brings the schema to the newest migration. Running it again is a no-op. */
export async function migrateToLatest(db: Db): Promise<MigrationOutcome> {
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({
      fs,
      path,
      migrationFolder: migrationsFolder,
      import: (file) => import(pathToFileURL(file).href),
    }),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((result: MigrationResult) => result.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    const name = failed?.migrationName ?? 'unknown';
    throw new Error(`migration ${name} failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  return { applied, alreadyCurrent: applied.length === 0 };
}
