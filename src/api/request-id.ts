import { randomUUID } from 'node:crypto';

/** A request id a client sent that is safe to echo and log; anything else gets a fresh one. */
const REQUEST_ID_PATTERN = /^[\w.-]{1,128}$/;

/** The request id a client sent when it is safe to echo and log, else a fresh one. */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
}
