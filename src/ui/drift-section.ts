import type { DriftReport } from '../db/json-columns.ts';
import { cdfChart, psiHistogram } from './charts.ts';
import { count, figure, share, time } from './format.ts';
import { type Html, html } from './html.ts';
import { badge } from './layout.ts';

/**
 * A drift report drawn: the verdict and each check beside its threshold, the two distributions
 * (on the PSI bins, and as CDFs with the KS gap marked), the quantiles side by side, coverage, and
 * the keys that moved most. The version page shows a version's stored report with it, the diff
 * page the report between any two; both read the report only, never the versions' rows.
 */
export async function driftSection(
  report: DriftReport,
  links: { csv?: string | undefined; json: string },
): Promise<Html> {
  const [histogram, cdf] = await Promise.all([psiHistogram(report), cdfChart(report)]);
  const a = report.baseline === null ? 'A (none)' : `A: v${report.baseline.version}`;
  const b = `B: v${report.candidate.version}`;
  const quantiles = [
    ...new Set([...Object.keys(report.a.quantiles), ...Object.keys(report.b.quantiles)]),
  ].sort((x, y) => Number(x) - Number(y));
  return html`
<section class="card" aria-labelledby="verdict">
  <h2 id="verdict">Verdict: ${badge(report.verdict.passed ? 'pass' : 'fail')}</h2>
  <p class="muted">${
    report.baseline === null
      ? 'A first version has nothing to be compared with; only its own checks apply.'
      : html`${b} against ${a} under the model's drift policy, computed ${time(report.computedAt)}.`
  }</p>
  <table>
    <caption>Policy checks</caption>
    <thead><tr><th>check</th><th class="num">observed</th><th class="num">threshold</th><th>result</th></tr></thead>
    <tbody>${report.verdict.checks.map(
      (check) =>
        html`<tr><td>${check.name}</td><td class="num">${figure(check.observed)}</td><td class="num">${figure(check.threshold)}</td><td>${badge(check.passed ? 'pass' : 'fail')}</td></tr>`,
    )}</tbody>
  </table>
  <p class="links">Download: ${links.csv === undefined ? '' : html`<a href="${links.csv}">per-key changes (CSV)</a>`} <a href="${links.json}">this report (JSON)</a></p>
</section>
<div class="grid">
  <section class="card" aria-labelledby="distributions">
    <h2 id="distributions">Distributions</h2>
    ${
      histogram ??
      (report.baseline === null
        ? html`<p class="muted">A first version has no baseline, so no bins to compare it in.</p>`
        : html`<p class="muted">This report was stored before reports kept their bin counts; the diff page computes it again.</p>`)
    }
  </section>
  <section class="card" aria-labelledby="cumulative">
    <h2 id="cumulative">Cumulative distributions</h2>
    ${cdf ?? html`<p class="muted">No CDF points in this report.</p>`}
  </section>
</div>
<div class="grid">
  <section class="card" aria-labelledby="figures">
    <h2 id="figures">Figures</h2>
    <table>
      <caption>Distances between A and B</caption>
      <tbody>
        <tr><th scope="row">PSI</th><td class="num">${figure(report.psi)}</td></tr>
        <tr><th scope="row">KS statistic (p-value)</th><td class="num">${figure(report.ksStatistic)} (${figure(report.ksPValue)})</td></tr>
        <tr><th scope="row">Wasserstein (÷ A's std)</th><td class="num">${figure(report.wasserstein)} (${figure(report.wassersteinNorm)})</td></tr>
        <tr><th scope="row">mean absolute change</th><td class="num">${figure(report.meanAbsChange)}</td></tr>
        <tr><th scope="row">median absolute relative change</th><td class="num">${share(report.medianAbsRelChange)}</td></tr>
        <tr><th scope="row">keys changed beyond tolerance</th><td class="num">${share(report.changedShare)}</td></tr>
        <tr><th scope="row">Spearman rank correlation</th><td class="num">${figure(report.spearman)}</td></tr>
        <tr><th scope="row">keys in both / removed / added</th><td class="num">${count(report.coverage.both)} / ${count(report.coverage.removed)} / ${count(report.coverage.added)}</td></tr>
      </tbody>
    </table>
  </section>
  <section class="card" aria-labelledby="quantiles">
    <h2 id="quantiles">Quantiles</h2>
    <table>
      <caption>Estimates of A and B at each quantile</caption>
      <thead><tr><th>quantile</th><th class="num">${a}</th><th class="num">${b}</th></tr></thead>
      <tbody>
        <tr><th scope="row">keys</th><td class="num">${count(report.a.count)}</td><td class="num">${count(report.b.count)}</td></tr>
        <tr><th scope="row">mean</th><td class="num">${figure(report.a.mean)}</td><td class="num">${figure(report.b.mean)}</td></tr>
        <tr><th scope="row">std</th><td class="num">${figure(report.a.std)}</td><td class="num">${figure(report.b.std)}</td></tr>
        ${quantiles.map(
          (q) =>
            html`<tr><th scope="row">${q}</th><td class="num">${figure(report.a.quantiles[q])}</td><td class="num">${figure(report.b.quantiles[q])}</td></tr>`,
        )}
      </tbody>
    </table>
  </section>
</div>
<section class="card" aria-labelledby="movers">
  <h2 id="movers">Top movers</h2>
  <div class="grid">
    ${(['up', 'down'] as const).map(
      (direction) => html`<table>
      <caption>${direction === 'up' ? 'Largest rises' : 'Largest falls'}</caption>
      <thead><tr><th>key</th><th class="num">A</th><th class="num">B</th><th class="num">change</th></tr></thead>
      <tbody>${
        report.topMovers[direction].length === 0
          ? html`<tr><td colspan="4" class="muted">none</td></tr>`
          : report.topMovers[direction].map(
              (mover) =>
                html`<tr><td>${mover.key}</td><td class="num">${figure(mover.a)}</td><td class="num">${figure(mover.b)}</td><td class="num">${mover.change > 0 ? '+' : ''}${figure(mover.change)}</td></tr>`,
            )
      }</tbody>
    </table>`,
    )}
  </div>
</section>`;
}
