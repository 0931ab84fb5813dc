/** A policy check: it fails when the observed value exceeds its maximum (or is below a minimum), or is null. */
export type Check = { name: string; threshold: number; observed: number | null; passed: boolean };
export type Verdict = { passed: boolean; checks: Check[] };

export function maxCheck(name: string, threshold: number, observed: number | null): Check {
  return { name, threshold, observed, passed: observed !== null && observed <= threshold };
}

export function minCheck(name: string, threshold: number, observed: number | null): Check {
  return { name, threshold, observed, passed: observed !== null && observed >= threshold };
}

export function verdictOf(checks: Check[]): Verdict {
  return { passed: checks.every((check) => check.passed), checks };
}
