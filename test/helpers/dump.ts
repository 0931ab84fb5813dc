import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/** SHA-256 of a query's rows as COPY text: equal bytes, equal hash. */
export async function copyChecksum(url: string, query: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, application_name: 'almanac-test-dump' });
  await client.connect();
  try {
    const hash = createHash('sha256');
    await pipeline(client.query(copyTo(`COPY (${query}) TO STDOUT`)), hash);
    return hash.digest('hex');
  } finally {
    await client.end();
  }
}
