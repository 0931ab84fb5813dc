import { type Logger, pino } from 'pino';
import { getConfig } from './config.ts';

let root: Logger | undefined;

/**
 * The process's structured logger. Logs go to stderr so that stdout stays for what a command
 * prints (a key, a table, a snapshot) and can be piped. Created on first use, after the config
 * has been validated.
 */
export function getLogger(): Logger {
  root ??= pino({ level: getConfig().logLevel, base: { service: 'almanac' } }, pino.destination(2));
  return root;
}
