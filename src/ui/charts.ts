import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { DriftReport } from '../db/json-columns.ts';
import { figure } from './format.ts';
import { escapeHtml, type Html, html, raw } from './html.ts';

/**
 * Charts as SVG made on the server with Vega-Lite, so that a page shows them with JavaScript off:
 * axes with their units, a legend, and a text alternative (the SVG's description, and a caption).
 * A chart is the same for the same data, so rendered ones are kept (charts of immutable reports
 * never change; others change only with their data).
 */

const rendered = new LRUCache<string, string>({ max: 2_000 });
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const key = createHash('sha1').update(JSON.stringify(spec)).digest('base64url');
  const cached = rendered.get(key);
  if (cached !== undefined) return cached;
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    rendered.set(key, svg);
    return svg;
  } finally {
    view.finalize();
  }
}

const config = {
  font: FONT,
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 600 as const,
    labelColor: '#1b1f24',
    titleColor: '#1b1f24',
  },
  legend: { labelFontSize: 11, titleFontSize: 12, labelColor: '#1b1f24', titleColor: '#1b1f24' },
  view: { stroke: '#d5dae0' },
};

async function figureOf(spec: TopLevelSpec, caption: string, kind: string): Promise<Html> {
  // the SVG is one image to assistive technology, named by the chart's description (its figures)
  // (a function as the replacement: a string one would read `$&` and `$'` in the label as patterns)
  const label = `<svg role="img" aria-label="${escapeHtml(spec.description ?? caption)}" `;
  const svg = (await svgOf({ ...spec, config } as TopLevelSpec)).replace('<svg ', () => label);
  return html`<figure class="chart" data-chart="${kind}">${raw(svg)}<figcaption>${caption}</figcaption></figure>`;
}

export type AccuracyPoint = { version: number; series: string; mae: number };

/** Mean absolute error across versions: holdout and realized, each beside naive's on the same rows. */
export function accuracyChart(points: readonly AccuracyPoint[], unit: string): Promise<Html> {
  const description = `Mean absolute error of each version, in ${unit}: ${points
    .map((p) => `v${p.version} ${p.series} ${figure(p.mae)}`)
    .join('; ')}`;
  return figureOf(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      description,
      width: 520,
      height: 220,
      data: { values: points as unknown as Record<string, unknown>[] },
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: { field: 'version', type: 'ordinal', title: 'version', axis: { labelAngle: 0 } },
        y: {
          field: 'mae',
          type: 'quantitative',
          title: `mean absolute error (${unit})`,
          scale: { zero: false },
        },
        color: { field: 'series', type: 'nominal', title: 'measured' },
        strokeDash: { field: 'series', type: 'nominal' },
      },
    },
    'Holdout MAE is measured when the version is trained; realized MAE once the actuals arrive. Naive repeats the last value: below its line, the model earns its keep.',
    'accuracy',
  );
}

/** A tiny line of a model's realized MAE across versions (its figures are written beside it). */
export function sparkline(points: readonly { version: number; mae: number }[], label: string): Promise<Html> {
  return figureOf(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      description: `${label}: ${points.map((p) => `v${p.version} ${figure(p.mae)}`).join(', ')}`,
      width: 110,
      height: 26,
      padding: 2,
      data: { values: points as unknown as Record<string, unknown>[] },
      mark: { type: 'line', point: { size: 14 } },
      encoding: {
        x: { field: 'version', type: 'ordinal', axis: null },
        y: { field: 'mae', type: 'quantitative', axis: null, scale: { zero: false } },
      },
    },
    '',
    'sparkline',
  );
}

export type TimelineInterval = { version: number; validFrom: Date; validTo: Date | null };

/** Which version was live when: a bar per publication interval on a time axis (open ones run to `now`). */
export function historyTimeline(intervals: readonly TimelineInterval[], now: Date): Promise<Html> {
  const values = intervals.map((interval) => ({
    version: `v${interval.version}`,
    from: interval.validFrom.toISOString(),
    to: (interval.validTo ?? now).toISOString(),
    live: interval.validTo === null ? 'published now' : 'earlier',
  }));
  return figureOf(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      description: `Publication history: ${intervals
        .map(
          (i) =>
            `v${i.version} from ${i.validFrom.toISOString()} to ${i.validTo === null ? 'now' : i.validTo.toISOString()}`,
        )
        .join('; ')}`,
      width: 520,
      height: Math.max(40, 22 * new Set(values.map((v) => v.version)).size),
      data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'version', type: 'ordinal', title: 'version', sort: 'descending' },
        x: {
          field: 'from',
          type: 'temporal',
          title: 'live from … to (UTC)',
          scale: { type: 'utc' },
          axis: { format: '%Y-%m-%d %H:%M', formatType: 'utc' },
        },
        x2: { field: 'to' },
        color: {
          field: 'live',
          type: 'nominal',
          title: 'interval',
          scale: { domain: ['published now', 'earlier'], range: ['#1d6b34', '#7d8b99'] },
        },
      },
    },
    'Each bar is a publication interval: the version lookups answered from, from its publish to the next (the green one is live). A lookup with ?at= answers from the bar that holds its instant.',
    'history',
  );
}

const sideLabel = (report: DriftReport, side: 'a' | 'b') =>
  side === 'a' ? `A: v${report.baseline?.version ?? '–'}` : `B: v${report.candidate.version}`;

/** Each version's share of keys in the PSI bins (A's deciles), A's bars beside B's. */
export function psiHistogram(report: DriftReport): Promise<Html> | undefined {
  const counts = report.psiCounts;
  if (counts == null) return undefined;
  const edges = report.psiEdges;
  const binLabel = (bin: number) =>
    bin === 0
      ? `< ${figure(edges[0], 3)}`
      : bin === edges.length
        ? `≥ ${figure(edges[bin - 1], 3)}`
        : `${figure(edges[bin - 1], 3)}–${figure(edges[bin], 3)}`;
  const values = (['a', 'b'] as const).flatMap((side) => {
    const total = side === 'a' ? report.a.count : report.b.count;
    return counts[side].map((n, bin) => ({
      bin: binLabel(bin),
      order: bin,
      version: sideLabel(report, side),
      share: total === 0 ? 0 : n / total,
      keys: n,
    }));
  });
  return figureOf(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      description: `Share of keys per PSI bin: ${values.map((v) => `${v.version} ${v.bin} ${(v.share * 100).toFixed(1)}%`).join('; ')}`,
      width: 520,
      height: 220,
      data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: {
          field: 'bin',
          type: 'ordinal',
          sort: { field: 'order' },
          title: "estimate, in the bins of A's deciles",
          axis: { labelAngle: -30 },
        },
        xOffset: { field: 'version' },
        y: { field: 'share', type: 'quantitative', title: 'share of keys', axis: { format: '%' } },
        color: { field: 'version', type: 'nominal', title: 'version' },
      },
    },
    `PSI ${figure(report.psi)}: each version's share of keys in the ten bins cut at A's deciles (A fills each with a tenth).`,
    'histogram',
  );
}

/**
 * A CDF given by its percentile points, at `x`, as the chart draws it (a step after each point):
 * the share of the last point at or below `x`, so that the KS rule meets both steps.
 */
function cdfAt(points: readonly number[], x: number): number {
  let below = -1;
  for (const [i, point] of points.entries()) if (point <= x) below = i;
  return below < 0 ? 0 : below / Math.max(1, points.length - 1);
}

/** Both versions' cumulative distributions, with the KS gap marked where it is largest. */
export function cdfChart(report: DriftReport): Promise<Html> | undefined {
  const cdf = report.cdf;
  if (cdf === undefined || (cdf.a.length === 0 && cdf.b.length === 0)) return undefined;
  const last = Math.max(cdf.a.length, cdf.b.length) - 1;
  const lines = (['a', 'b'] as const).flatMap((side) =>
    cdf[side].map((value, i) => ({ value, share: i / last, version: sideLabel(report, side) })),
  );
  const gap =
    report.ksAt == null || report.ksStatistic == null
      ? []
      : [
          {
            value: report.ksAt,
            from: cdfAt(cdf.a, report.ksAt),
            to: cdfAt(cdf.b, report.ksAt),
            label: `KS ${figure(report.ksStatistic)}`,
          },
        ];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: `Cumulative share of keys by estimate for ${sideLabel(report, 'a')} and ${sideLabel(report, 'b')}${
      gap[0] === undefined ? '' : `; the largest gap, ${gap[0].label}, is at ${figure(gap[0].value)}`
    }`,
    width: 520,
    height: 220,
    layer: [
      {
        data: { values: lines },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'value', type: 'quantitative', title: 'estimate', scale: { zero: false } },
          y: {
            field: 'share',
            type: 'quantitative',
            title: 'share of keys at or below',
            axis: { format: '%' },
          },
          color: { field: 'version', type: 'nominal', title: 'version' },
        },
      },
      ...(gap.length === 0
        ? []
        : [
            {
              data: { values: gap },
              mark: { type: 'rule', color: '#a4161a', strokeWidth: 2 },
              encoding: {
                x: { field: 'value', type: 'quantitative' },
                y: { field: 'from', type: 'quantitative' },
                y2: { field: 'to' },
              },
            },
            {
              data: { values: gap },
              mark: { type: 'text', align: 'left', dx: 6, color: '#a4161a', fontWeight: 600 },
              encoding: {
                x: { field: 'value', type: 'quantitative' },
                y: { field: 'to', type: 'quantitative' },
                text: { field: 'label' },
              },
            },
          ]),
    ],
    resolve: { scale: { x: 'shared', y: 'shared' } },
  } as TopLevelSpec;
  return figureOf(
    spec,
    report.ksStatistic == null
      ? 'The cumulative share of keys at or below each estimate.'
      : `The cumulative share of keys at or below each estimate; the red rule marks the largest gap between them (the KS statistic, ${figure(report.ksStatistic)}).`,
    'cdf',
  );
}
