import type { DecisionRecord } from '../../db/json-columns.ts';
import { pinsOfVersion } from '../../db/pins.ts';
import { RUN_PHASES } from '../../db/types.ts';
import type { Version } from '../../db/versions.ts';
import { resolveVersion, type VersionRef } from '../../versions/resolve.ts';
import { WITH_ROWS } from '../../versions/states.ts';
import { actionsFor } from '../actions.ts';
import { driftSection } from '../drift-section.ts';
import { count, duration, figure, share, time } from '../format.ts';
import { type Html, html } from '../html.ts';
import { inputChecksSection } from '../input-checks-section.ts';
import { badge, page } from '../layout.ts';
import { canAct, type PageContext } from '../page-context.ts';
import { dataPath, pagePath } from '../paths.ts';

/** `GET /models/:model/versions/:version`: lineage, metrics, input checks, and its drift report drawn. */
export async function versionPage(ctx: PageContext, model: string, ref: VersionRef): Promise<string> {
  const version = await resolveVersion(ctx.deps.db, model, ref);
  const pins = await pinsOfVersion(ctx.deps.db, version.id);
  const { lineage, metrics, realized, drift } = version;
  const n = version.number;
  const actions = canAct(ctx.viewer) ? actionsFor(model, version, ctx.viewer) : '';
  const body = html`<h1>${model} v${n} ${badge(version.state)}</h1>
${actions === '' ? '' : html`<section class="card" aria-labelledby="decide"><h2 id="decide">Decide</h2>${actions}</section>`}
<div class="grid">
<section class="card" aria-labelledby="lineage">
  <h2 id="lineage">Lineage</h2>
  <dl class="facts">
    <dt>created</dt><dd>${time(version.createdAt)}</dd>
    <dt>published</dt><dd>${version.publishedAt === null ? 'never' : time(version.publishedAt)}</dd>
    <dt>pinned by</dt><dd>${pins.length === 0 ? 'nobody' : pins.map((pin, i) => html`${i === 0 ? '' : ', '}${pin.consumer}${pin.expiresAt === null ? '' : html` <span class="muted">(until ${time(pin.expiresAt)})</span>`}`)}</dd>
    ${decision('approved or rolled back by', lineage.published)}
    ${decision('rejected by', lineage.rejected)}
    <dt>requested by</dt><dd>${lineage.trigger ?? '–'}${lineage.slot === undefined ? '' : html` <span class="muted">(slot ${lineage.slot})</span>`}</dd>
    <dt>estimator</dt><dd>${lineage.estimator ?? lineage.spec?.estimator ?? '–'} <code>${JSON.stringify(lineage.params ?? lineage.spec?.params ?? {})}</code></dd>
    ${
      lineage.training === undefined
        ? ''
        : html`<dt>source window</dt><dd>${lineage.spec?.source?.table ?? ''} up to ${lineage.training.window.anchor}: ${lineage.training.window.trainWindowDays} days of training, ${lineage.training.window.holdoutDays} of holdout</dd>
    <dt>rows read</dt><dd>${count(lineage.training.rows.train)} training, ${count(lineage.training.rows.holdout)} holdout, ${count(lineage.training.rows.skipped)} skipped</dd>`
    }
    ${lineage.import === undefined ? '' : html`<dt>imported</dt><dd>${count(lineage.import.rows)} rows${lineage.import.asOf ? ', with as_of' : ''}</dd>`}
    <dt>keys</dt><dd>${count(version.rowCount)}</dd>
    <dt>checksum</dt><dd><code>${version.checksum ?? '–'}</code></dd>
    ${lineage.codeVersion === undefined ? '' : html`<dt>code</dt><dd>${lineage.codeVersion}</dd>`}
    ${lineage.error === undefined ? '' : html`<dt>error</dt><dd>${lineage.error}</dd>`}
  </dl>
  ${phases(lineage.phasesMs)}
  ${
    lineage.spec === undefined
      ? ''
      : html`<details><summary>The model's spec when this version was made</summary><pre class="json">${JSON.stringify(lineage.spec, null, 2)}</pre></details>`
  }
</section>
<section class="card" aria-labelledby="metrics">
  <h2 id="metrics">Accuracy</h2>
  <table>
    <caption>Mean absolute error, root mean square error and bias (actual − estimate)</caption>
    <thead><tr><th>measured on</th><th class="num">rows</th><th class="num">MAE</th><th class="num">naive's MAE</th><th class="num">RMSE</th><th class="num">bias</th></tr></thead>
    <tbody>
      <tr><th scope="row">holdout${metrics?.holdout.inSample === true ? ' (in sample)' : ''}</th><td class="num">${count(metrics?.holdout.rows)}</td><td class="num">${figure(metrics?.holdout.mae)}</td><td class="num">${figure(metrics?.naive.mae)}</td><td class="num">${figure(metrics?.holdout.rmse)}</td><td class="num">${figure(metrics?.holdout.bias)}</td></tr>
      <tr><th scope="row">realized actuals</th><td class="num">${count(realized?.rows)}</td><td class="num">${figure(realized?.mae)}</td><td class="num">${figure(realized?.naiveMae)}</td><td class="num">${figure(realized?.rmse)}</td><td class="num">${figure(realized?.bias)}</td></tr>
    </tbody>
  </table>
  <p class="muted">${
    realized == null || realized.rows === 0
      ? 'No actuals have arrived for this version yet.'
      : html`Interval coverage ${share(realized.intervalCoverage)} of ${count(realized.intervalRows)} rows; measured ${time(realized.evaluatedAt)}${realized.maeRatioToNaive == null ? '' : html`; ${realized.maeRatioToNaive < 1 ? 'beats' : 'does not beat'} naive (ratio ${figure(realized.maeRatioToNaive)})`}.`
  }</p>
</section>
</div>
${lineage.inputs === undefined ? '' : inputChecksSection(lineage.inputs)}
${downloads(model, version)}
${
  drift === null
    ? html`<section class="card"><h2>Drift</h2><p class="muted">This version has no drift report: the gate writes one before it publishes.</p></section>`
    : html`<h2>Drift against ${drift.baseline === null ? 'nothing (a first version)' : html`<a href="${pagePath.version(model, drift.baseline.version)}">v${drift.baseline.version}</a>`}</h2>
${await driftSection(drift, {
  csv: drift.baseline === null ? undefined : dataPath.diff(model, drift.baseline.version, n, 'csv'),
  json: dataPath.drift(model, n),
})}`
}`;
  return page({
    title: `${model} v${n}`,
    viewer: ctx.viewer,
    body,
    json: dataPath.version(model, n),
    crumbs: [
      { label: 'Models', href: pagePath.models() },
      { label: model, href: pagePath.model(model) },
      { label: `v${n}` },
    ],
  });
}

function decision(label: string, record: DecisionRecord | undefined): Html | string {
  if (record === undefined) return '';
  return html`<dt>${label}</dt><dd>${record.actor} at ${time(record.at)}${record.reason === null ? '' : html`: “${record.reason}”`}</dd>`;
}

/** Phases in the order a run goes through them; others (an import's steps) after them. */
const phaseOrder = (phase: string) => {
  const at = (RUN_PHASES as readonly string[]).indexOf(phase);
  return at === -1 ? RUN_PHASES.length : at;
};

function phases(phasesMs: Record<string, number> | undefined): Html | string {
  if (phasesMs === undefined || Object.keys(phasesMs).length === 0) return '';
  return html`<table>
  <caption>Time in each phase</caption>
  <tbody>${Object.entries(phasesMs)
    .sort(([a], [b]) => phaseOrder(a) - phaseOrder(b))
    .map(
      ([phase, ms]) => html`<tr><th scope="row">${phase}</th><td class="num">${duration(ms)}</td></tr>`,
    )}</tbody>
</table>`;
}

function downloads(model: string, version: Version): Html | string {
  if (!WITH_ROWS.has(version.state)) return '';
  const n = version.number;
  return html`<section class="card" aria-labelledby="downloads">
  <h2 id="downloads">Download its estimates</h2>
  <p class="links"><a href="${dataPath.snapshot(model, n, 'csv')}">CSV</a> <a href="${dataPath.snapshot(model, n, 'ndjson')}">NDJSON</a> <a href="${dataPath.snapshot(model, n, 'parquet')}">Parquet</a></p>
</section>`;
}
