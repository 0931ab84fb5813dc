import { CronExpressionParser } from 'cron-parser';
import { validateDetailed } from 'node-cron';

/**
 * Cron and time-zone checks. node-cron fires the ticks and cron-parser does slot arithmetic, so
 * an expression must satisfy both, and have exactly five fields (no seconds, no macros).
 */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `must have five fields (minute hour day-of-month month day-of-week), got ${fields.length}: "${expression}"`;
  }
  const detailed = validateDetailed(expression);
  if (!detailed.valid) {
    return `invalid cron "${expression}": ${detailed.errors.map((e) => e.message).join('; ')}`;
  }
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' });
  } catch (error) {
    return `invalid cron "${expression}": ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}

const knownZones = new Set(Intl.supportedValuesOf('timeZone'));

export function isTimeZone(name: string): boolean {
  if (name === 'UTC' || knownZones.has(name)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The ticks of a spec's schedule around `currentDate`, in its time zone (the scheduler and the pages). */
export function cronOf(schedule: { cron: string; timezone: string }, currentDate: Date) {
  return CronExpressionParser.parse(schedule.cron, { tz: schedule.timezone, currentDate });
}

/** When a schedule fires next after `now`. */
export function nextTick(schedule: { cron: string; timezone: string }, now: Date): Date {
  return cronOf(schedule, now).next().toDate();
}
