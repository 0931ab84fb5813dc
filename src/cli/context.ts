import type { Writable } from 'node:stream';
import type pg from 'pg';
import { getConfig } from '../config.ts';
import type { Db } from '../db/database.ts';
import { getLogger } from '../logger.ts';
import { connectedProducer, openRuntime, type Producer, type Role, type Runtime } from '../runtime.ts';

export type CliIo = {
  stdout: Writable;
  stderr: Writable;
  /** whether stderr is a terminal (progress bars draw only there) */
  interactive: boolean;
  /** stops long-running commands like a signal would (tests drive the CLI in-process) */
  stop?: AbortSignal;
};

export const processIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  interactive: process.stderr.isTTY === true,
};

/** What a command is given: where to write, and the process's runtime, opened on demand and closed at the end. */
export type CliContext = {
  io: CliIo;
  print: (line?: string) => void;
  /**
   * The process's runtime (src/runtime.ts), opened on first use: `serve`, `worker`, `scheduler`
   * and `demo` open it in their role, every other command as `cli`.
   */
  runtime: (role?: Role) => Runtime;
  db: () => Db;
  pool: () => pg.Pool;
  /** The job queue's producer once Redis answers (an UnavailableError within 2 s when it does not). */
  producer: () => Promise<Producer>;
  close: () => Promise<void>;
  /** Set by a command that succeeds with a code of its own (3: held by the drift gate). */
  exitCode: number;
};

export function createCliContext(io: CliIo): CliContext {
  let opened: Runtime | undefined;
  const runtime = (role?: Role) => {
    // a command that runs a process asks for its role before anything opens the runtime
    if (opened !== undefined && role !== undefined && opened.role !== role) {
      throw new Error(`the runtime is open as ${opened.role}; ${role} must be asked for first`);
    }
    opened ??= openRuntime(getConfig(), role ?? 'cli', { logger: getLogger() });
    return opened;
  };
  return {
    io,
    print: (line = '') => io.stdout.write(`${line}\n`),
    runtime,
    db: () => runtime().db,
    pool: () => runtime().pool,
    producer: () => connectedProducer(runtime()),
    close: async () => {
      await opened?.close();
      opened = undefined;
    },
    exitCode: 0,
  };
}
