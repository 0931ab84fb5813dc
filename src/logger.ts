import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { type Config, getConfig } from './config.ts';

/**
 * Structured logs (pino) on stderr, so that stdout stays for what a command prints (a key, a
 * table, a snapshot) and can be piped. On a terminal they are human-readable lines; elsewhere, or
 * with LOG_FORMAT=json, one JSON object a line.
 */
export function createLogger(
  config: Pick<Config, 'logLevel' | 'logFormat'>,
  options: { terminal?: boolean; destination?: NodeJS.WritableStream } = {},
): Logger {
  const terminal = options.terminal ?? process.stderr.isTTY === true;
  const format = config.logFormat ?? (terminal ? 'pretty' : 'json');
  const destination: DestinationStream =
    format === 'pretty'
      ? pretty({
          destination: options.destination ?? 2,
          sync: true,
          colorize: terminal && options.destination === undefined,
          ignore: 'pid,hostname,service',
        })
      : ((options.destination as DestinationStream | undefined) ?? pino.destination(2));
  return pino(
    {
      level: config.logLevel,
      base: { service: 'almanac' },
      hooks: {
        // A line never carries a key twice: a field the logger is already bound to (a child's
        // `model`, say) is left out of the fields a call passes.
        logMethod(args, method) {
          const [fields] = args;
          if (typeof fields === 'object' && fields !== null && !(fields instanceof Error)) {
            const bound = this.bindings();
            const repeated = Object.keys(fields).filter((key) => key in bound);
            if (repeated.length > 0) {
              const kept: Record<string, unknown> = { ...fields };
              for (const key of repeated) delete kept[key];
              (args as unknown[])[0] = kept;
            }
          }
          return method.apply(this, args);
        },
      },
    },
    destination,
  );
}

let root: Logger | undefined;

/** The process's logger, created on first use, after the config has been validated. */
export function getLogger(): Logger {
  root ??= createLogger(getConfig());
  return root;
}
