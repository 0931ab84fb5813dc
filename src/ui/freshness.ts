import { freshnessOf } from '../api/served-version.ts';
import { age } from './format.ts';
import { type Html, html } from './html.ts';
import type { PageContext } from './page-context.ts';

/**
 * A red "stale" mark, with how old the data is, for a model whose published version's data is
 * older than its `maxAgeHours` (as the lookups' `stale` says); nothing otherwise.
 */
export function staleMark(ctx: PageContext, name: string): Html | '' {
  const model = ctx.deps.catalog.model(name);
  const freshness = model === undefined ? undefined : freshnessOf(model, ctx.now.getTime());
  if (freshness === undefined || !freshness.stale) return '';
  const since = ctx.now.getTime() - freshness.ageSeconds * 1000;
  return html` <span class="badge stale">stale</span> <span class="stale">data ${age(new Date(since), ctx.now.getTime())} old, over maxAgeHours ${String(model?.spec.maxAgeHours)}</span>`;
}
