import { listVersions } from '../../db/versions.ts';
import { resolveDiff } from '../../drift/diff.ts';
import { requireModel } from '../../versions/resolve.ts';
import { STATES_WITH_ROWS } from '../../versions/states.ts';
import { driftSection } from '../drift-section.ts';
import { html } from '../html.ts';
import { page } from '../layout.ts';
import type { PageContext } from '../page-context.ts';
import { dataPath, pagePath } from '../paths.ts';

/** Versions the pickers offer. */
const PICKABLE = 200;

/**
 * `GET /models/:model/diff?from=A&to=B`: the drift report between any two versions, judged by
 * the model's current policy, computed once per pair and then served from the API's cache.
 * Without a pair it sends the browser to the two newest versions that have estimates.
 */
export async function diffPage(
  ctx: PageContext,
  model: string,
  pair: { from: number; to: number } | undefined,
): Promise<{ html: string; redirect?: undefined } | { redirect: string }> {
  const { db } = ctx.deps;
  await requireModel(db, model);
  const versions = await listVersions(db, model, { limit: PICKABLE, states: [...STATES_WITH_ROWS] });
  const [newest, before] = versions;
  if (pair === undefined && newest !== undefined && before !== undefined) {
    return { redirect: pagePath.diff(model, before.number, newest.number) };
  }
  const report =
    pair === undefined
      ? undefined
      : await ctx.deps.reports.reportOf(ctx.deps, await resolveDiff(db, model, pair.from, pair.to));
  const picker = (name: 'from' | 'to', label: string, selected: number | undefined) =>
    html`<label>${label} <select name="${name}">${versions.map(
      (v) =>
        html`<option value="${v.number}"${v.number === selected ? html` selected` : ''}>v${v.number} (${v.state})</option>`,
    )}</select></label>`;
  const body = html`<h1>${model}: compare two versions</h1>
<section class="card" aria-labelledby="pick">
  <h2 id="pick">Versions</h2>
  ${
    versions.length < 2
      ? html`<p class="muted">This model needs two versions with estimates to compare.</p>`
      : html`<form method="get" action="${pagePath.diff(model)}" class="inline">
    ${picker('from', 'baseline A', pair?.from)} ${picker('to', 'candidate B', pair?.to)}
    <button type="submit" class="action">Compare</button>
  </form>`
  }
</section>
${
  report === undefined || pair === undefined
    ? ''
    : await driftSection(report, {
        csv: dataPath.diff(model, pair.from, pair.to, 'csv'),
        json: dataPath.diff(model, pair.from, pair.to),
      })
}`;
  return {
    html: page({
      title: pair === undefined ? `${model}: compare` : `${model}: v${pair.from} → v${pair.to}`,
      viewer: ctx.viewer,
      body,
      ...(pair === undefined ? {} : { json: dataPath.diff(model, pair.from, pair.to) }),
      crumbs: [
        { label: 'Models', href: pagePath.models() },
        { label: model, href: pagePath.model(model) },
        { label: 'compare' },
      ],
    }),
  };
}
