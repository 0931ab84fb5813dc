import { listModels } from '../../db/models.ts';
import { listRuns } from '../../db/runs.ts';
import { listVersions } from '../../db/versions.ts';
import { nextRunOf } from '../../runs/scheduled.ts';
import { sparkline } from '../charts.ts';
import { age, figure, time } from '../format.ts';
import { staleMark } from '../freshness.ts';
import { html } from '../html.ts';
import { badge, page } from '../layout.ts';
import type { PageContext } from '../page-context.ts';
import { dataPath, pagePath } from '../paths.ts';

/** Versions a sparkline spans. */
const SPARK_VERSIONS = 30;

/** `GET /`: every model at a glance. */
export async function modelsPage(ctx: PageContext): Promise<string> {
  const { db } = ctx.deps;
  const models = await listModels(db);
  const rows = await Promise.all(
    models.map(async (model) => {
      const [versions, runs] = await Promise.all([
        listVersions(db, model.name, { limit: SPARK_VERSIONS, withVerdict: true }),
        listRuns(db, model.name, { limit: 1 }),
      ]);
      const realized = versions
        .filter((v) => v.realized?.mae != null)
        .map((v) => ({ version: v.number, mae: v.realized?.mae ?? 0, naive: v.realized?.naiveMae ?? null }))
        .reverse();
      const latestRealized = realized.at(-1);
      const newest = versions[0];
      const next = nextRunOf(model.spec, ctx.now);
      const run = runs[0];
      return html`<tr>
  <td><a href="${pagePath.model(model.name)}"><strong>${model.name}</strong></a>${model.spec.description === '' ? '' : html`<br><span class="muted">${model.spec.description}</span>`}</td>
  <td>${model.spec.estimator}</td>
  <td>${
    next === undefined
      ? html`<span class="muted">${model.spec.schedule.paused ? 'paused' : 'versions are imported'}</span>`
      : html`<code>${model.spec.schedule.cron}</code> ${model.spec.schedule.timezone}<br><span class="muted">next ${time(next)}</span>`
  }</td>
  <td>${
    model.publishedVersion === null
      ? html`<span class="muted">none yet</span>`
      : html`<a href="${pagePath.version(model.name, model.publishedVersion)}">v${model.publishedVersion}</a> <span class="muted">published ${age(model.publishedAt, ctx.now.getTime())} ago</span>${staleMark(ctx, model.name)}`
  }</td>
  <td>${run === undefined ? html`<span class="muted">none</span>` : html`${badge(run.state)} <span class="muted">${run.phase}, ${age(run.createdAt, ctx.now.getTime())} ago</span>`}</td>
  <td>${
    newest === undefined
      ? html`<span class="muted">–</span>`
      : html`<a href="${pagePath.version(model.name, newest.number)}">v${newest.number}</a> ${badge(newest.state)} ${newest.verdict === null ? '' : badge(newest.verdict ? 'pass' : 'fail')}`
  }</td>
  <td>${
    latestRealized === undefined
      ? html`<span class="muted">no actuals yet</span>`
      : html`${realized.length > 1 ? await sparkline(realized, `Realized MAE of ${model.name}`) : ''}<span class="muted">v${latestRealized.version}: ${figure(latestRealized.mae)}${latestRealized.naive === null ? '' : html` (naive ${figure(latestRealized.naive)})`}</span>`
  }</td>
</tr>`;
    }),
  );
  const body = html`<h1>Models</h1>
<p class="lede">Every model, the version it serves, and how its estimates fared once the actuals arrived.</p>
<section class="card">
${
  models.length === 0
    ? html`<p>No models yet. <code>npx almanac models apply seeds/models/nasdaq-close.json</code> adds one; <code>npm run demo</code> makes two, with versions.</p>`
    : html`<table>
  <caption>${models.length} ${models.length === 1 ? 'model' : 'models'}</caption>
  <thead><tr><th>model</th><th>estimator</th><th>schedule</th><th>published</th><th>last run</th><th>newest version, verdict</th><th>realized MAE</th></tr></thead>
  <tbody>${rows}</tbody>
</table>`
}
</section>`;
  return page({ title: 'Models', viewer: ctx.viewer, body, json: dataPath.models() });
}
