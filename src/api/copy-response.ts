import type { Response } from 'express';
import type pg from 'pg';

/**
 * Streams a COPY to the response on a connection held for that stream alone, and released after
 * it (src/api/version-reads.ts picks the server). A client that goes away mid-stream ends the
 * COPY, and the connection is then discarded at once: a COPY cut half-way leaves it unusable. An
 * error before the first byte becomes the usual problem answer.
 */
export async function streamOnConnection(
  client: pg.PoolClient,
  res: Response,
  stream: (client: pg.PoolClient) => Promise<void>,
): Promise<void> {
  let broken = false;
  try {
    await stream(client);
  } catch (error) {
    broken = true;
    if (!res.headersSent) {
      // the problem answer that follows is not the attachment announced
      res.removeHeader('Content-Disposition');
      throw error;
    }
    res.destroy();
  } finally {
    client.release(broken);
  }
}
