/** How figures and times are written for people, in the CLI's tables and on the dashboard's pages alike. */

export const formatTime = (date: Date | null | undefined): string =>
  date == null ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A figure in four significant digits: whole numbers whole, the very large or small in e-notation. */
export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value == null) return '-';
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const scientific = Math.abs(value) >= 1e6 || (value !== 0 && Math.abs(value) < 1e-3);
  return scientific ? value.toExponential(digits - 1) : value.toPrecision(digits);
}
