import { listPins } from '../../db/pins.ts';
import { listPublications } from '../../db/publications.ts';
import { listVersions, type VersionLine } from '../../db/versions.ts';
import { nextRunOf } from '../../runs/scheduled.ts';
import { requireModel } from '../../versions/resolve.ts';
import { servedAccuracy } from '../../versions/served-accuracy.ts';
import { WITH_ROWS } from '../../versions/states.ts';
import { actionsFor } from '../actions.ts';
import { type AccuracyPoint, accuracyChart, historyTimeline } from '../charts.ts';
import { count, figure, time } from '../format.ts';
import { staleMark } from '../freshness.ts';
import { type Html, html } from '../html.ts';
import { badge, page } from '../layout.ts';
import { canAct, type PageContext } from '../page-context.ts';
import { dataPath, pagePath } from '../paths.ts';
import type { Viewer } from '../session.ts';
import { newestRuns, runsFrameHeight } from './runs.ts';

/** Days that accuracy as served is averaged over. */
const SERVED_DAYS = 30;
/** Versions the table and the chart show (the JSON pages through all of them). */
const VERSIONS_SHOWN = 60;
/** Publication intervals the timeline and its table show. */
const HISTORY_SHOWN = 20;

/** What the operator just did, from the redirect after a button (`?done=publish&version=3`). */
export type Done = { done: 'publish' | 'reject'; version: number };

/**
 * `GET /models/:model`: its versions, their accuracy, its runs, and the operator's buttons. The
 * runs are a frame of their own (src/ui/pages/runs.ts) that reloads itself while one is active,
 * so that a reason being typed into a form here is never lost to a reload.
 */
export async function modelPage(ctx: PageContext, name: string, done?: Done): Promise<string> {
  const { db } = ctx.deps;
  const model = await requireModel(db, name);
  const [versions, runs, history, pins, served] = await Promise.all([
    listVersions(db, name, { limit: VERSIONS_SHOWN, withVerdict: true }),
    newestRuns(ctx, name),
    listPublications(db, name, { limit: HISTORY_SHOWN }),
    listPins(db, name),
    servedAccuracy(db, name, { days: SERVED_DAYS }, ctx.now.getTime()),
  ]);
  const notice = doneNotice(versions, done);
  const unit = model.spec.source?.target ?? 'the estimate';
  const points = withServedLine(accuracyPoints(versions), served.servedMae);
  const next = nextRunOf(model.spec, ctx.now);
  const comparable = versions.filter((v) => WITH_ROWS.has(v.state));
  const body = html`<h1>${name}</h1>
${model.spec.description === '' ? '' : html`<p class="lede">${model.spec.description}</p>`}
${notice ?? ''}
<section class="card" aria-labelledby="about">
  <h2 id="about">About</h2>
  <dl class="facts">
    <dt>estimator</dt><dd>${model.spec.estimator}</dd>
    <dt>published</dt><dd>${model.publishedVersion === null ? 'none yet' : html`<a href="${pagePath.version(name, model.publishedVersion)}">v${model.publishedVersion}</a>${staleMark(ctx, name)}`}</dd>
    <dt>freshness</dt><dd>${model.spec.maxAgeHours === undefined ? 'no limit (maxAgeHours unset)' : `lookups say stale once the data is over ${model.spec.maxAgeHours} h old`}</dd>
    <dt>schedule</dt><dd>${
      next === undefined
        ? model.spec.schedule.paused
          ? 'paused'
          : 'none: versions are imported'
        : html`<code>${model.spec.schedule.cron}</code> (${model.spec.schedule.timezone}), next run ${time(next)}`
    }</dd>
    <dt>drift policy</dt><dd>${Object.entries(model.spec.drift)
      .map(([check, threshold]) => `${check} ${threshold}`)
      .join(', ')}</dd>
    <dt>retention</dt><dd>keeps the newest ${model.spec.retention.keepVersions} versions' estimates</dd>
  </dl>
  ${
    comparable.length >= 2
      ? html`<p class="links"><a href="${pagePath.diff(name)}">Compare two versions</a></p>`
      : ''
  }
</section>
<section class="card" aria-labelledby="runs">
  <h2 id="runs">Runs</h2>
  <iframe class="runs" title="Runs of ${name}" src="${pagePath.runs(name)}" height="${runsFrameHeight(runs, ctx.now)}"></iframe>
  <p class="links"><a href="${pagePath.runs(name)}">runs on a page of their own</a> <a href="${dataPath.runs(name)}">runs as JSON</a></p>
</section>
<section class="card" aria-labelledby="versions">
  <h2 id="versions">Versions</h2>
  ${versionsTable(name, versions, ctx.viewer)}
  <p class="links"><a href="${dataPath.versions(name)}">versions as JSON</a></p>
</section>
<section class="card" aria-labelledby="history">
  <h2 id="history">Publication history</h2>
  ${
    history.length === 0
      ? html`<p class="muted">Nothing published yet.</p>`
      : html`${await historyTimeline(history, ctx.now)}
  <table>
    <caption>The newest ${history.length} publication intervals</caption>
    <thead><tr><th>version</th><th>live from</th><th>until</th><th>by</th><th>reason</th></tr></thead>
    <tbody>${history.map(
      (interval) =>
        html`<tr><td><a href="${pagePath.version(name, interval.version)}">v${interval.version}</a></td><td class="time">${interval.validFrom.toISOString()}</td><td class="time">${interval.validTo === null ? 'now' : interval.validTo.toISOString()}</td><td>${interval.actor}</td><td>${interval.reason ?? ''}</td></tr>`,
    )}</tbody>
  </table>`
  }
  <p class="links"><a href="${dataPath.history(name)}">history as JSON</a></p>
</section>
<section class="card" aria-labelledby="pins">
  <h2 id="pins">Pins</h2>
  ${
    pins.length === 0
      ? html`<p class="muted">No consumer pins a version: retention keeps the newest ${model.spec.retention.keepVersions} versions.</p>`
      : html`<table>
    <caption>Consumers that depend on a version: retention keeps it until the pin expires</caption>
    <thead><tr><th>consumer</th><th>version</th><th>expires</th><th>pinned</th><th>note</th></tr></thead>
    <tbody>${pins.map(
      (pin) =>
        html`<tr${pin.expired ? html` class="muted"` : ''}><td>${pin.consumer}</td><td><a href="${pagePath.version(name, pin.version)}">v${pin.version}</a></td><td>${pin.expiresAt === null ? 'never' : time(pin.expiresAt)}${pin.expired ? ' (expired)' : ''}</td><td>${time(pin.createdAt)}</td><td>${pin.note ?? ''}</td></tr>`,
    )}</tbody>
  </table>`
  }
  <p class="links"><a href="${dataPath.pins(name)}">pins as JSON</a></p>
</section>
<section class="card" aria-labelledby="accuracy">
  <h2 id="accuracy">Accuracy across versions</h2>
  ${
    points.length === 0
      ? html`<p class="muted">No version has been measured yet.</p>`
      : await accuracyChart(points, unit)
  }
  <p>${
    served.servedMae === null
      ? html`<span class="muted">Accuracy as served: no day of the last ${SERVED_DAYS} had a published version with actuals measured yet.</span>`
      : html`Accuracy as served over the last ${SERVED_DAYS} days (each day's live version, by the history): MAE ${figure(served.servedMae)}${served.servedNaiveMae === null ? '' : html`, naive ${figure(served.servedNaiveMae)}`}, on ${served.days.filter((day) => day.mae !== null).length} days.`
  }</p>
  <p class="links"><a href="${dataPath.accuracy(name)}">served accuracy per day as JSON</a></p>
</section>`;
  return page({
    title: name,
    viewer: ctx.viewer,
    body,
    json: dataPath.model(name),
    crumbs: [{ label: 'Models', href: pagePath.models() }, { label: name }],
  });
}

/** The notice after a button, when what the link says is what happened (a link can say anything). */
function doneNotice(versions: readonly VersionLine[], done: Done | undefined): Html | undefined {
  const version = versions.find((v) => v.number === done?.version);
  if (done === undefined || version === undefined) return undefined;
  if (done.done === 'publish' && version.state === 'published')
    return html`<p class="notice ok" role="status">Version ${version.number} was published: lookups answer from it now.</p>`;
  if (done.done === 'reject' && version.state === 'rejected')
    return html`<p class="notice ok" role="status">Version ${version.number} was rejected.</p>`;
  return undefined;
}

/** Each version's holdout and realized MAE, each beside naive's on the same rows, oldest first. */
export function accuracyPoints(versions: readonly VersionLine[]): AccuracyPoint[] {
  return [...versions].reverse().flatMap((v) => {
    const points: AccuracyPoint[] = [];
    const add = (series: string, mae: number | null | undefined) => {
      if (mae != null && Number.isFinite(mae)) points.push({ version: v.number, series, mae });
    };
    add('holdout', v.metrics?.holdout.mae);
    add('holdout, naive', v.metrics?.naive.mae);
    add('realized', v.realized?.mae);
    add('realized, naive', v.realized?.naiveMae);
    return points;
  });
}

/** The served MAE (a mean over days) as a level line across the versions, beside their own figures. */
function withServedLine(points: AccuracyPoint[], servedMae: number | null): AccuracyPoint[] {
  if (servedMae === null) return points;
  const versions = [...new Set(points.map((point) => point.version))];
  return [
    ...points,
    ...versions.map((version) => ({ version, series: `served, ${SERVED_DAYS}-day mean`, mae: servedMae })),
  ];
}

function versionsTable(model: string, versions: readonly VersionLine[], viewer: Viewer): Html {
  if (versions.length === 0) return html`<p class="muted">No versions yet.</p>`;
  const admin = canAct(viewer);
  return html`<table>
  <caption>The newest ${versions.length} versions</caption>
  <thead><tr><th>version</th><th>state</th><th>created</th><th class="num">keys</th><th class="num">holdout MAE</th><th class="num">realized MAE</th><th class="num">naive's</th><th>drift</th>${admin ? html`<th>actions</th>` : ''}</tr></thead>
  <tbody>${versions.map(
    (v) => html`<tr>
    <td><a href="${pagePath.version(model, v.number)}">v${v.number}</a></td>
    <td>${badge(v.state)}</td>
    <td>${time(v.createdAt)}</td>
    <td class="num">${count(v.rowCount)}</td>
    <td class="num">${figure(v.metrics?.holdout.mae)}</td>
    <td class="num">${figure(v.realized?.mae)}</td>
    <td class="num">${figure(v.realized?.naiveMae)}</td>
    <td>${v.verdict === null ? html`<span class="muted">–</span>` : html`${badge(v.verdict ? 'pass' : 'fail')}${v.baselineNumber === null ? '' : html` <span class="muted">vs v${v.baselineNumber}</span>`}`}</td>
    ${admin ? html`<td>${actionsFor(model, v, viewer)}</td>` : ''}
  </tr>`,
  )}</tbody>
</table>`;
}
