import type { Logger } from 'pino';

/**
 * Runs `work` every `everyMs`, one pass at a time: the ticks that come during a pass are skipped,
 * so a pass that overruns delays the next rather than overlapping it or queueing more. A failed
 * pass is logged as `failure` and the next one tries again.
 * `close()` stops the timer and waits for the pass in progress. The timer keeps no process alive.
 */
export function every(
  everyMs: number,
  work: () => Promise<void>,
  logger: Logger,
  failure: string,
): { close: () => Promise<void> } {
  let pass: Promise<void> | undefined;
  const timer = setInterval(() => {
    // a tick during a pass is skipped: passes never queue up behind a slow one
    if (pass !== undefined) return;
    pass = work()
      .catch((error: unknown) => logger.warn({ err: error }, failure))
      .finally(() => {
        pass = undefined;
      });
  }, everyMs);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await pass;
    },
  };
}
