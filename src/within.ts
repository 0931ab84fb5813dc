/**
 * `work`, or a rejection after `ms` when it has not settled by then: for calls that may hang on a
 * dependency that is down (a health check, an enqueue) but must answer.
 */
export function within<T>(
  ms: number,
  work: Promise<T>,
  timedOut: () => Error = () => new Error(`no answer within ${ms} ms`),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
