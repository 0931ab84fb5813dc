/**
 * A page of a listing: fetch one row more than asked, and its presence says there is a next page,
 * whose cursor is made from the last row shown.
 */
export async function page<T, V>(
  limit: number,
  fetch: (rows: number) => Promise<T[]>,
  view: (row: T) => V,
  cursorOf: (last: T) => string,
): Promise<{ items: V[]; nextCursor: string | null }> {
  const rows = await fetch(limit + 1);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(view),
    nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null,
  };
}
