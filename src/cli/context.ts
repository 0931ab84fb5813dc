import type { Writable } from 'node:stream';
import type pg from 'pg';
import { getConfig } from '../config.ts';
import { createDb, createPool, type Db } from '../db/database.ts';

export type CliIo = {
  stdout: Writable;
  stderr: Writable;
  /** whether stderr is a terminal (progress bars draw only there) */
  interactive: boolean;
};

export const processIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  interactive: process.stderr.isTTY === true,
};

/** What a command is given: where to write, and connections it opens on demand and never leaks. */
export type CliContext = {
  io: CliIo;
  print: (line?: string) => void;
  /** One kysely instance per command, closed when the command ends. */
  db: () => Db;
  /** One raw pool per command (COPY, cursors), closed when the command ends. */
  pool: () => pg.Pool;
  close: () => Promise<void>;
  /** Set by a command that succeeds with a code of its own (3: held by the drift gate). */
  exitCode: number;
};

export function createCliContext(io: CliIo): CliContext {
  let db: Db | undefined;
  let pool: pg.Pool | undefined;
  return {
    io,
    print: (line = '') => io.stdout.write(`${line}\n`),
    db: () => {
      db ??= createDb(getConfig().databaseUrl, { max: 4, applicationName: 'almanac-cli' });
      return db;
    },
    pool: () => {
      pool ??= createPool(getConfig().databaseUrl, { max: 2, applicationName: 'almanac-cli' });
      return pool;
    },
    close: async () => {
      await Promise.all([db?.destroy(), pool?.end()]);
      db = undefined;
      pool = undefined;
    },
    exitCode: 0,
  };
}
