import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from './services.ts';

/**
 * A Postgres cluster of the test's own, for what the shared server (port 5432) cannot do:
 * replication, and stopping or restarting Postgres under a running system. A primary that allows
 * streaming replication, and standbys made from it with `pg_basebackup -R`, each a server on a
 * free port of 127.0.0.1 with its data and socket in a temporary folder. Postgres refuses to run
 * as root: as root, its binaries run as the `postgres` user, which then owns the folders. Every
 * server is stopped and every folder removed when the cluster is destroyed, and, should a test
 * process end without that, when it exits.
 */

const run = promisify(execFile);

/** The binaries: ALMANAC_TEST_PG_BIN, else the newest Debian install (/usr/lib/postgresql/N/bin). */
function binDir(): string {
  const given = process.env.ALMANAC_TEST_PG_BIN;
  if (given !== undefined && given !== '') return given;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(path.join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) {
    throw new Error(
      `no Postgres binaries under ${root}; set ALMANAC_TEST_PG_BIN to the folder holding initdb`,
    );
  }
  return path.join(root, versions[0], 'bin');
}

const asRoot = process.getuid?.() === 0;

/** A binary's command line, as the `postgres` user when we are root. */
function command(bin: string, args: string[]): [string, string[]] {
  const file = path.join(binDir(), bin);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
}

async function pgBin(bin: string, args: string[]): Promise<string> {
  const [file, argv] = command(bin, args);
  try {
    const { stdout } = await run(file, argv, { timeout: 60_000 });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${stderr || stdout || (error as Error).message}`);
  }
}

export type PgServer = {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  /** a connection string to one of its databases (`postgres` unless named), as user postgres */
  url: (database?: string) => string;
  /** runs one statement as the superuser and ends the connection */
  query: <R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
    database?: string,
  ) => Promise<R[]>;
  start: () => Promise<void>;
  /** `fast` ends sessions and shuts down cleanly; `immediate` is a crash (recovery at the next start) */
  stop: (mode?: 'fast' | 'immediate') => Promise<void>;
  restart: (mode?: 'fast' | 'immediate') => Promise<void>;
  running: () => boolean;
  /** its log so far, for a failure's message */
  log: () => Promise<string>;
};

export type PgCluster = {
  readonly primary: PgServer;
  readonly standbys: readonly PgServer[];
  /** a streaming standby of the primary (`pg_basebackup -R`), started, its WAL streamed as it comes */
  addStandby: () => Promise<PgServer>;
  /** stops every server and removes every folder; safe to call twice */
  destroy: () => Promise<void>;
};

/** Settings of every server: a throwaway cluster, so no fsync; replication allowed (pg_hba: initdb's trust). */
const SETTINGS = {
  listen_addresses: "'127.0.0.1'",
  wal_level: 'replica',
  max_wal_senders: '5',
  wal_keep_size: "'256MB'",
  hot_standby: 'on',
  fsync: 'off',
  shared_buffers: "'64MB'",
  max_connections: '80',
};

const running = new Map<string, string>(); // data folder → server name
const folders = new Set<string>();

// A test process that ends without destroying its cluster (a crash, a forgotten hook) stops the
// servers anyway: pg_ctl starts them detached, so nothing else would.
process.once('exit', () => {
  for (const dataDir of running.keys()) {
    const [file, argv] = command('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    try {
      execFileSync(file, argv, { stdio: 'ignore', timeout: 10_000 });
    } catch {}
  }
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

async function postgresOwned(folder: string): Promise<void> {
  if (!asRoot) return;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  await chown(folder, id('-u'), id('-g'));
}

/** A primary of its own, initialised and started, in a folder under the system's temp folder. */
export async function createPgCluster(label: string): Promise<PgCluster> {
  const root = await mkdtemp(path.join(tmpdir(), `almanac-pg-${label}-`));
  folders.add(root);
  await postgresOwned(root);
  const socketDir = path.join(root, 'sock');
  await mkdir(socketDir);
  await postgresOwned(socketDir);

  const server = async (name: string, make: (dataDir: string) => Promise<void>): Promise<PgServer> => {
    const dataDir = path.join(root, name);
    const logFile = path.join(root, `${name}.log`);
    const port = await freePort();
    await make(dataDir);
    // the last setting in the file wins: a standby's copy of the primary's port is overridden
    await appendFile(
      path.join(dataDir, 'postgresql.conf'),
      `\nport = ${port}\nunix_socket_directories = '${socketDir}'\n`,
    );
    const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
    const pgCtl = (args: string[]) => pgBin('pg_ctl', ['-D', dataDir, '-w', '-t', '60', ...args]);
    const self: PgServer = {
      name,
      port,
      dataDir,
      url,
      query: async (text, values, database) => {
        const client = new pg.Client({
          connectionString: url(database),
          application_name: 'almanac-test-admin',
        });
        await client.connect();
        try {
          return (await client.query(text, values)).rows;
        } finally {
          await client.end();
        }
      },
      start: async () => {
        await pgCtl(['-l', logFile, 'start']);
        running.set(dataDir, name);
      },
      stop: async (mode = 'fast') => {
        if (!running.has(dataDir)) return;
        await pgCtl(['-m', mode, 'stop']);
        running.delete(dataDir);
      },
      restart: async (mode = 'fast') => {
        await self.stop(mode);
        await self.start();
      },
      running: () => running.has(dataDir),
      log: () => readFile(logFile, 'utf8').catch(() => ''),
    };
    await self.start();
    return self;
  };

  const primary = await server('primary', async (dataDir) => {
    await pgBin('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ]);
    const lines = Object.entries(SETTINGS).map(([name, value]) => `${name} = ${value}`);
    await appendFile(path.join(dataDir, 'postgresql.conf'), `\n${lines.join('\n')}\n`);
  });
  const standbys: PgServer[] = [];
  let destroyed = false;
  const cluster: PgCluster = {
    primary,
    standbys,
    addStandby: async () => {
      const standby = await server(`standby${standbys.length + 1}`, async (dataDir) => {
        await pgBin('pg_basebackup', [
          '-h',
          '127.0.0.1',
          '-p',
          String(primary.port),
          '-U',
          'postgres',
          '-D',
          dataDir,
          '-R',
          '-X',
          'stream',
          '--no-sync',
        ]);
      });
      standbys.push(standby);
      return standby;
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      // standbys first: a primary going away makes them retry in their logs, nothing worse
      for (const each of [...standbys, primary]) {
        await each.stop('immediate').catch(() => {});
      }
      await rm(root, { recursive: true, force: true });
      folders.delete(root);
    },
  };
  return cluster;
}

/**
 * A cluster for the test file: a primary and `standbys` streaming standbys, made before the
 * file's tests, destroyed after them whatever happened.
 */
export function usePgCluster(label: string, options: { standbys?: number } = {}): () => PgCluster {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await createPgCluster(label);
    for (let i = 0; i < (options.standbys ?? 0); i += 1) await cluster.addStandby();
  }, 120_000);
  afterAll(async () => {
    await cluster?.destroy();
  });
  return () => {
    if (cluster === undefined) throw new Error('the cluster is not running (outside a test?)');
    return cluster;
  };
}
