/** How the dashboard writes numbers and times: short, exact enough, the same on every page. */

export function figure(value: number | null | undefined, digits = 4): string {
  if (value == null || !Number.isFinite(value)) return '–';
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return value.toLocaleString('en-US');
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-3)) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

export function share(value: number | null | undefined): string {
  return value == null || !Number.isFinite(value) ? '–' : `${(value * 100).toFixed(1)}%`;
}

export function count(value: number | null | undefined): string {
  return value == null ? '–' : value.toLocaleString('en-US');
}

/** A time as the API writes it, without its milliseconds: 2026-05-01T02:00:00Z. */
export function time(date: Date | string | null | undefined): string {
  if (date == null) return '–';
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** How long ago, in the largest unit that makes it short: 5 min, 3 h, 2 d. */
export function age(date: Date | string | null | undefined, now = Date.now()): string {
  if (date == null) return '–';
  const seconds = Math.max(0, (now - new Date(date).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function duration(ms: number | null | undefined): string {
  if (ms == null) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
