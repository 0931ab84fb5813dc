import type { Db } from './database.ts';
import type { Scope } from './types.ts';

export type ApiKey = { name: string; scopes: Scope[]; createdAt: Date; revokedAt: Date | null };

export async function insertApiKey(
  db: Db,
  key: { name: string; keyHash: string; scopes: Scope[] },
): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({ name: key.name, key_hash: key.keyHash, scopes: key.scopes })
    .execute();
}

export async function listApiKeys(db: Db): Promise<ApiKey[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(['name', 'scopes', 'created_at', 'revoked_at'])
    .orderBy('name')
    .execute();
  return rows.map((row) => ({
    name: row.name,
    scopes: row.scopes,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  }));
}

/** Marks a key revoked; false when no live key has that name. */
export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('name', '=', name)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The live key with this SHA-256 (hex), if any. */
export async function findLiveApiKeyByHash(
  db: Db,
  keyHash: string,
): Promise<(ApiKey & { keyHash: string }) | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['name', 'key_hash', 'scopes', 'created_at', 'revoked_at'])
    .where('key_hash', '=', keyHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        name: row.name,
        keyHash: row.key_hash,
        scopes: row.scopes,
        createdAt: row.created_at,
        revokedAt: row.revoked_at,
      };
}

/** Deletes a key outright (the demo replaces its own key on every run). */
export async function deleteApiKey(db: Db, name: string): Promise<void> {
  await db.deleteFrom('api_keys').where('name', '=', name).execute();
}
