import type { InputChecks } from '../db/json-columns.ts';
import { count, figure } from './format.ts';
import { type Html, html } from './html.ts';
import { badge } from './layout.ts';

/**
 * The input checks a refresh made before training (`lineage.inputs`): which slices it compared,
 * each figure beside its threshold, and the keys the newest slice lacked.
 */
export function inputChecksSection(inputs: InputChecks): Html {
  const { baseline } = inputs;
  return html`<section class="card" aria-labelledby="inputs">
  <h2 id="inputs">Input checks: ${badge(inputs.passed ? 'pass' : 'fail')}${inputs.forced ? ' (forced past them)' : ''}</h2>
  <p class="muted">${
    baseline === null
      ? html`The newest slice of the source (${inputs.time ?? 'none'}, ${count(inputs.rows)} rows) had no published slice to be compared with.`
      : html`The newest slice of the source (${inputs.time ?? 'none'}, ${count(inputs.rows)} rows) against the one v${baseline.version} scored (${baseline.time}, ${count(baseline.rows)} rows).`
  }</p>
  <table>
    <caption>Each figure beside the spec's threshold (none: reported only)</caption>
    <thead><tr><th>check</th><th class="num">observed</th><th class="num">threshold</th><th>result</th></tr></thead>
    <tbody>${inputs.checks.map(
      (check) =>
        html`<tr><td>${check.name}</td><td class="num">${figure(check.observed)}</td><td class="num">${figure(check.threshold)}</td><td>${check.threshold === null ? html`<span class="muted">reported</span>` : badge(check.passed ? 'pass' : 'fail')}</td></tr>`,
    )}</tbody>
  </table>
  ${
    inputs.missing.count === 0
      ? ''
      : html`<p>${count(inputs.missing.count)} keys of the published slice are missing from the newest one${inputs.missing.count > inputs.missing.keys.length ? html`, the first ${inputs.missing.keys.length}` : ''}: ${inputs.missing.keys.join(', ')}</p>`
  }
</section>`;
}
