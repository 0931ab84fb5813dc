import type { Db } from '../db/database.ts';
import { requireModel } from '../versions/resolve.ts';

/** How many rows a listing answers when `?limit=` does not say. */
export const DEFAULT_PAGE = 100;

/**
 * A page of one model's listing (its versions, its runs): 404 for an unknown model; otherwise
 * one row more than asked is fetched, and its presence says there is a next page, whose cursor is
 * made from the last row shown.
 */
export async function modelPage<T, V>(
  db: Db,
  model: string,
  limit: number | undefined,
  listing: { fetch: (rows: number) => Promise<T[]>; view: (row: T) => V; cursorOf: (last: T) => string },
): Promise<{ items: V[]; nextCursor: string | null }> {
  await requireModel(db, model);
  const shown = limit ?? DEFAULT_PAGE;
  const rows = await listing.fetch(shown + 1);
  const items = rows.slice(0, shown);
  const last = items.at(-1);
  return {
    items: items.map(listing.view),
    nextCursor: rows.length > shown && last !== undefined ? listing.cursorOf(last) : null,
  };
}
