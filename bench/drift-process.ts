/**
 * A fresh process that computes the whole drift report between two versions (figures, top movers,
 * verdict under the default policy), and prints `{"ms":…,"peakRssMb":…}`: the time of the computation and the peak
 * resident memory of the whole process (Node, pg, the figures), which only a fresh process can
 * tell apart from the importing that came before it.
 *
 *   node bench/drift-process.ts DATABASE_URL A_ID B_ID
 */
import { parseConfig } from '../src/config.ts';
import { findVersionById } from '../src/db/versions.ts';
import { driftReport } from '../src/drift/report.ts';
import { driftPolicy } from '../src/model/spec.ts';
import { openRuntime } from '../src/runtime.ts';

const [url, a, b] = process.argv.slice(2);
if (url === undefined || a === undefined || b === undefined) {
  process.stderr.write('usage: node bench/drift-process.ts DATABASE_URL A_ID B_ID\n');
  process.exit(2);
}
const { db, close } = openRuntime(parseConfig({ DATABASE_URL: url, LOG_LEVEL: 'warn' }), 'cli');
try {
  const [baseline, candidate] = await Promise.all([findVersionById(db, a), findVersionById(db, b)]);
  if (baseline === undefined || candidate === undefined) throw new Error(`no versions ${a} and ${b}`);
  const started = performance.now();
  const figures = await driftReport(db, baseline, candidate, driftPolicy.parse({}));
  const ms = Math.round(performance.now() - started);
  // maxRSS is in kilobytes
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  const { psi, ksStatistic: ks, topMovers } = figures;
  const movers = topMovers.up.length + topMovers.down.length;
  // The same report as an import's gate computes it: inside a transaction, one query after another.
  const sequentialStarted = performance.now();
  await db
    .transaction()
    .execute((trx) => driftReport(trx, baseline, candidate, driftPolicy.parse({}), { inTransaction: true }));
  const msInTransaction = Math.round(performance.now() - sequentialStarted);
  process.stdout.write(`${JSON.stringify({ ms, peakRssMb, psi, ks, movers, msInTransaction })}\n`);
} finally {
  await close();
}
