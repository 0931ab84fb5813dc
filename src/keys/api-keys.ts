import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { insertApiKey } from '../db/api-keys.ts';
import type { Db } from '../db/database.ts';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import type { Scope } from '../db/types.ts';
import { ConflictError } from '../errors.ts';

export const apiKeyName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'must be 1 to 64 letters, digits, "_", ".", "@" or "-"');
export const scopeName = z.enum(['read', 'admin'], { error: 'must be "read" or "admin"' });

/** Keys carry a recognisable prefix so that secret scanners can find leaked ones. */
const KEY_PREFIX = 'alm_';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** `admin` includes `read`. */
export function scopesFor(scope: Scope): Scope[] {
  return scope === 'admin' ? ['read', 'admin'] : ['read'];
}

/**
 * Creates a key of 256 random bits and returns it: this is the only time it exists in clear;
 * only its SHA-256 is stored.
 */
export async function createApiKey(db: Db, name: string, scope: Scope): Promise<string> {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  try {
    await insertApiKey(db, { name, keyHash: hashApiKey(key), scopes: scopesFor(scope) });
  } catch (error) {
    if (hasSqlState(error, PgError.uniqueViolation)) {
      throw new ConflictError(`an API key named "${name}" already exists; choose another name`, {
        cause: error,
      });
    }
    throw error;
  }
  return key;
}
