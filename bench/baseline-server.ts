// The floor for `npm run bench -- api`: the same indexed lookup on bare node:http + pg, nothing else.
import http from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const versionId = process.env.VERSION_ID ?? '1';
const server = http.createServer(async (req, res) => {
  const match = /^\/estimates\/([^/?]+)$/.exec(req.url ?? '');
  if (match?.[1] === undefined) {
    res.writeHead(404).end();
    return;
  }
  const key = decodeURIComponent(match[1]);
  const { rows } = await pool.query({
    name: 'lookup',
    text: 'SELECT key, value, lower, upper, as_of FROM estimates WHERE version_id = $1 AND key = $2',
    values: [versionId, key],
  });
  const row = rows[0];
  if (row === undefined) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      version: 1,
      key: row.key,
      value: row.value,
      lower: row.lower,
      upper: row.upper,
      asOf: row.as_of,
    }),
  );
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => pool.end()));
