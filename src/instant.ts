/** Instants written as text, read one way everywhere. */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-](\d{2}):?(\d{2}))?$/i;

/**
 * An instant as text (an import's `as_of`, a lookup's `at`): an RFC 3339 / ISO 8601 date-time with
 * its offset (`Z` or `+02:00`, up to 6 fractional digits), or a date (midnight UTC), as Postgres
 * reads it; or the reason it is not one. A date-time without an offset is refused: its instant
 * would depend on a time zone. `ms` is the instant in milliseconds since the epoch, rounded down.
 */
export function parseInstant(text: string): { value: string; ms: number } | { problem: string } {
  const trimmed = text.trim();
  const date = DATE.exec(trimmed);
  const dateTime = date === null ? DATE_TIME.exec(trimmed) : null;
  const parts = date ?? dateTime;
  if (parts === null) {
    return {
      problem: `not a time: ${text.slice(0, 40)} (use ISO 8601, e.g. 2026-05-01 or 2026-05-01T16:00:00Z)`,
    };
  }
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth)
    return { problem: `not a real date: ${trimmed}` };
  if (dateTime !== null) {
    const [hour, minute, second] = [Number(dateTime[4]), Number(dateTime[5]), Number(dateTime[6] ?? 0)];
    if (hour > 23 || minute > 59 || second > 59) return { problem: `not a real time of day: ${trimmed}` };
    if (dateTime[8] === undefined) {
      return { problem: `${trimmed} has no offset; add Z (UTC) or one like +02:00` };
    }
    // Postgres takes offsets up to ±15:59
    if (Number(dateTime[9] ?? 0) > 15 || Number(dateTime[10] ?? 0) > 59) {
      return { problem: `not a real offset: ${trimmed}` };
    }
  }
  // (setUTCFullYear, not Date.UTC, which reads years 0 to 99 as 1900 to 1999)
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  if (dateTime === null) return { value: `${trimmed}T00:00:00Z`, ms: utc.getTime() };
  const millis = Number((dateTime[7] ?? '.0').slice(1, 4).padEnd(3, '0'));
  const sign = dateTime[8]?.startsWith('-') ? -1 : 1;
  const offsetMinutes = /^z$/i.test(dateTime[8] ?? '')
    ? 0
    : sign * (Number(dateTime[9]) * 60 + Number(dateTime[10]));
  utc.setUTCHours(Number(dateTime[4]), Number(dateTime[5]), Number(dateTime[6] ?? 0), millis);
  return { value: trimmed, ms: utc.getTime() - offsetMinutes * 60_000 };
}
