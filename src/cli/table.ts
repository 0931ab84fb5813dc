import { controlCharacter } from '../model/keys.ts';

const controlCharacters = new RegExp(controlCharacter.source, 'g');

/**
 * A cell as a terminal may show it: control characters as `\u001b` and the like. Free text refuses
 * them now (src/plain-text.ts), but a note stored before may hold an escape sequence or a line
 * break that would redraw the terminal or forge a row.
 */
function printable(cell: string): string {
  return cell.replace(
    controlCharacters,
    (character) => `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

/** Plain aligned columns for terminal output; the first row is the header. */
export function formatTable(table: readonly (readonly string[])[]): string {
  const rows = table.map((row) => row.map(printable));
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
