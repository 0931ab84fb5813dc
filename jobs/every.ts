import type { Logger } from 'pino';

/**
 * Runs `work` every `everyMs`, one pass at a time (a pass that overruns delays the next rather
 * than overlapping it); a failed pass is logged as `failure` and the next one tries again.
 * `close()` stops the timer and waits for the pass in progress. The timer keeps no process alive.
 */
export function every(
  everyMs: number,
  work: () => Promise<void>,
  logger: Logger,
  failure: string,
): { close: () => Promise<void> } {
  let pass: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    pass = pass.then(work).catch((error: unknown) => logger.warn({ err: error }, failure));
  }, everyMs);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await pass;
    },
  };
}
