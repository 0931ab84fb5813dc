import { type RunningBin, startBin } from './spawn.ts';

/** A real `almanac worker` process, for tests that kill, stop and resume workers. */
export function spawnWorker(env: Record<string, string>): RunningBin {
  return startBin(['worker'], { LOG_LEVEL: 'info', ALMANAC_JOB_LOCK_MS: '2000', ...env });
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Wakes a SIGSTOPped worker whose attempt was taken over meanwhile, and waits until it says it
 * gave up (its output matches `gaveUp`): its connection was terminated, so it wrote nothing more.
 */
export async function resumeStalled(worker: RunningBin, gaveUp: RegExp, timeoutMs: number): Promise<void> {
  worker.child.kill('SIGCONT');
  await waitFor(
    async () => (gaveUp.test(worker.output()) ? true : undefined),
    timeoutMs,
    `the resumed attempt to notice it lost its lock\n${worker.output()}`,
    100,
  );
}
