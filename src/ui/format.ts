import { formatNumber, formatTime } from '../format.ts';

/** How the dashboard writes numbers and times: short, exact enough, the same on every page. */

/** A figure as src/format.ts writes it, without trailing zeros, whole numbers grouped; a dash for none. */
export function figure(value: number | null | undefined, digits = 4): string {
  if (value == null || !Number.isFinite(value)) return '–';
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return value.toLocaleString('en-US');
  return formatNumber(value, digits)
    .replace(/(\.\d*?)0+(e|$)/, '$1$2')
    .replace(/\.(e|$)/, '$1');
}

export function share(value: number | null | undefined): string {
  return value == null || !Number.isFinite(value) ? '–' : `${(value * 100).toFixed(1)}%`;
}

export function count(value: number | null | undefined): string {
  return value == null ? '–' : value.toLocaleString('en-US');
}

/** A time without its milliseconds (2026-05-01T02:00:00Z), as the CLI writes it; a dash for none. */
export function time(date: Date | string | null | undefined): string {
  return date == null ? '–' : formatTime(new Date(date));
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
