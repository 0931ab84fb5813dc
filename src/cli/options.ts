import '../zod-messages.ts';
import type { z } from 'zod';
import { fieldIssues, UsageError } from '../errors.ts';

/**
 * Validates a command's options and arguments with zod. A bad value is a usage error (exit 2)
 * naming the flag, e.g. `--keys: must be a whole number from 1 to 5000000`. Positional arguments
 * are keyed in capitals (`MODEL`) and named as such.
 */
export function parseOptions<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  // --verbose, which every command takes, is the program's (src/cli/main.ts), not the command's
  const { verbose: _verbose, ...own } = (input ?? {}) as Record<string, unknown>;
  const parsed = schema.safeParse(own);
  if (parsed.success) return parsed.data;
  const lines = fieldIssues(parsed.error.issues).map(({ path, message }) => {
    const flag = path === '' ? '' : /^[A-Z]+$/.test(path) ? `${path}: ` : `${flagName(path)}: `;
    return `${flag}${message}`;
  });
  throw new UsageError(lines.join('\n'));
}

/** An option's flag as it is typed: `dropKeys` is `--drop-keys`. */
export function flagName(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
