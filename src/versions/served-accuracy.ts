import type { Db } from '../db/database.ts';
import { type ServedDay, servedAccuracyByDay } from '../db/served-accuracy.ts';
import { requireModel } from './resolve.ts';

export type ServedAccuracy = { days: ServedDay[]; servedMae: number | null; servedNaiveMae: number | null };

const DAY_MS = 86_400_000;

/**
 * Accuracy as served over the `days` UTC days ending with `to` (default today): each day's live
 * version and its realized MAE and naive's, and their means over the days that had a version
 * measured (a day before the first publish or after today, or whose version has no actuals yet,
 * counts in neither).
 */
export async function servedAccuracy(
  db: Db,
  model: string,
  window: { days: number; to?: string | undefined },
  now = Date.now(),
): Promise<ServedAccuracy> {
  await requireModel(db, model);
  const today = new Date(now).toISOString().slice(0, 10);
  const to = window.to ?? today;
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - (window.days - 1) * DAY_MS)
    .toISOString()
    .slice(0, 10);
  const days = await servedAccuracyByDay(db, model, from, to, today);
  const mean = (values: (number | null)[]) => {
    const known = values.filter((value): value is number => value !== null);
    return known.length === 0 ? null : known.reduce((sum, value) => sum + value, 0) / known.length;
  };
  const served = days.filter((day) => day.version !== null);
  return {
    days,
    servedMae: mean(served.map((day) => day.mae)),
    servedNaiveMae: mean(served.map((day) => day.naiveMae)),
  };
}
