import type { Version } from '../db/versions.ts';
import type { DriftReport } from '../drift/report.ts';
import type { Verdict } from '../drift/verdict.ts';
import { formatNumber } from '../format.ts';
import type { CliContext } from './context.ts';
import { formatTable } from './table.ts';

/** Drift reports and verdicts as terminal text. */

export function verdictTable(verdict: Verdict): string {
  return formatTable([
    ['CHECK', 'THRESHOLD', 'OBSERVED', 'RESULT'],
    ...verdict.checks.map((check) => [
      check.name,
      formatNumber(check.threshold),
      check.observed === null ? 'none' : formatNumber(check.observed),
      check.passed ? 'pass' : 'FAIL',
    ]),
  ]);
}

/** What `almanac diff` prints: both sides, the distances, the per-key change, the movers and the verdict. */
export function reportText(report: DriftReport): string {
  const { a, b, coverage } = report;
  const from = report.baseline === null ? 'nothing' : `v${report.baseline.version}`;
  const to = `v${report.candidate.version}`;
  const quantiles = Object.keys(a.quantiles);
  const sides = formatTable([
    ['', `A (${from})`, `B (${to})`],
    ['keys', String(a.count), String(b.count)],
    ['mean', formatNumber(a.mean), formatNumber(b.mean)],
    ['std', formatNumber(a.std), formatNumber(b.std)],
    ...quantiles.map((q) => [`q${q}`, formatNumber(a.quantiles[q]), formatNumber(b.quantiles[q])]),
  ]);
  const figures = formatTable([
    ['FIGURE', 'VALUE', 'WHAT IT SAYS'],
    [
      'coverage',
      `${coverage.both} / ${coverage.removed} / ${coverage.added}`,
      'keys in both / removed / added',
    ],
    ['psi', formatNumber(report.psi), 'population stability over the deciles of A'],
    ['ksStatistic', formatNumber(report.ksStatistic), 'largest gap between the two distributions'],
    ['ksPValue', formatNumber(report.ksPValue), 'chance of a gap that large if nothing changed'],
    ['wasserstein', formatNumber(report.wasserstein), 'how far the values moved, on average'],
    ['wassersteinNorm', formatNumber(report.wassersteinNorm), "the same, in A's standard deviations"],
    ['meanAbsChange', formatNumber(report.meanAbsChange), 'mean |b − a| over keys in both'],
    ['medianAbsRelChange', formatNumber(report.medianAbsRelChange), 'median |b − a| / |a|'],
    [
      'changedShare',
      formatNumber(report.changedShare),
      `share of keys that moved more than ${report.policy.changeTolerance} of |a|`,
    ],
    ['spearman', formatNumber(report.spearman), 'rank correlation of a and b (1: same order)'],
  ]);
  const movers = (label: string, list: DriftReport['topMovers']['up']) =>
    list.length === 0
      ? `${label}: none`
      : `${label}:\n${formatTable([
          ['KEY', 'A', 'B', 'CHANGE'],
          ...list
            .slice(0, 5)
            .map((m) => [m.key, formatNumber(m.a), formatNumber(m.b), formatNumber(m.change)]),
        ])}`;
  return [
    `${report.candidate.model}: ${to} against ${from}`,
    '',
    sides,
    '',
    figures,
    '',
    movers('top movers up', report.topMovers.up),
    '',
    movers('top movers down', report.topMovers.down),
    '',
    `verdict: ${report.verdict.passed ? 'passed' : 'FAILED'} (the model's drift policy)`,
    verdictTable(report.verdict),
  ].join('\n');
}

/** Tells an operator that the gate held a version back, why, and what to do about it. */
export function printHeld(ctx: CliContext, version: Version): void {
  ctx.print(
    `version ${version.number} of ${version.model} (${version.rowCount ?? 0} keys) was held by the drift gate`,
  );
  const verdict = version.drift?.verdict;
  if (verdict !== undefined) ctx.print(verdictTable(verdict));
  ctx.print(
    `see \`almanac diff ${version.model} latest ${version.number}\`; approve it with \`almanac publish ${version.model} ${version.number} --reason ...\` or reject it with \`almanac reject ${version.model} ${version.number} --reason ...\``,
  );
}
