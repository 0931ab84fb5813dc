/** Plain aligned columns for terminal output; the first row is the header. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const formatTime = (date: Date | null | undefined): string =>
  date == null ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A figure in four significant digits: whole numbers whole, the very large or small in e-notation. */
export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value == null) return '-';
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const scientific = Math.abs(value) >= 1e6 || (value !== 0 && Math.abs(value) < 1e-3);
  return scientific ? value.toExponential(digits - 1) : value.toPrecision(digits);
}
