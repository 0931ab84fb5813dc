import type { Response } from 'express';
import type pg from 'pg';
import type { Logger } from 'pino';
import { classifyError } from '../classify-error.ts';
import type { Connections } from '../db/database.ts';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import { replayPosition, walPosition } from '../db/replication.ts';
import { UnavailableError } from '../errors.ts';
import { within } from '../within.ts';
import { streamOnConnection } from './copy-response.ts';
import type { Metrics } from './metrics.ts';

/**
 * Where the API reads versions' rows (lookups, batches, snapshots, diffs): the read replica
 * (DATABASE_READ_URL) when it has replayed every version the read needs, else the primary. A
 * version's rows are complete at a position in the primary's WAL the catalog records
 * (`VersionEntry.lsn`, src/api/catalog.ts); the replica's replay position is polled here, never
 * asked for on a read: every 100 ms while a read waits for a version the replica has not replayed
 * yet, every second otherwise. A replica that is down, is not a standby, or fails a read for want
 * of a server sends reads to the primary: answers never fail because the replica did. Everything
 * else (writes, LISTEN, the catalog) stays on the primary.
 */

/** A server's connections: kysely and its raw pool. */
export type Server = Pick<Connections, 'db' | 'pool'>;

/** What a read needs replayed: the catalog's entries of its versions (undefined: not in the catalog). */
export type VersionsRead = readonly ({ lsn: bigint | undefined } | undefined)[];

export type VersionReads = {
  /** `work` on the server that may answer for `versions`; again on the primary when the replica fails it */
  run: <T>(versions: VersionsRead, work: (on: Server) => Promise<T>) => Promise<T>;
  /** a COPY of `versions` streamed to `res` (src/api/copy-response.ts) from the server that may answer */
  stream: (
    versions: VersionsRead,
    res: Response,
    work: (client: pg.PoolClient) => Promise<void>,
  ) => Promise<void>;
  /** for readiness: `ok`, or why reads all go to the primary; undefined without a replica */
  replicaState: () => string | undefined;
  /** whether reads may go to the replica now */
  replicaUp: () => boolean;
  /** bytes of the primary's WAL the replica has yet to replay, read now; NaN when unknown */
  replicaLagBytes: () => Promise<number>;
  close: () => void;
};

export const REPLAY_POLL_MS = { waiting: 100, idle: 1_000 };
/** how long a poll of the replica, or a lag reading, may take before it counts as down */
const ANSWER_MS = 2_000;

type Choice = 'replica' | 'behind' | 'down';

export async function createVersionReads(options: {
  primary: Server;
  replica: Server | undefined;
  metrics: Metrics;
  logger: Logger;
}): Promise<VersionReads> {
  const { primary, replica, metrics, logger } = options;
  const primaryReads = metrics.dbReads.labels({ target: 'primary' });
  const replicaReads = metrics.dbReads.labels({ target: 'replica' });
  if (replica === undefined) {
    return {
      run: (_versions, work) => {
        primaryReads.inc();
        return work(primary);
      },
      stream: async (_versions, res, work) => {
        primaryReads.inc();
        await streamOnConnection(await primary.pool.connect(), res, work);
      },
      replicaState: () => undefined,
      replicaUp: () => false,
      replicaLagBytes: async () => Number.NaN,
      close: () => {},
    };
  }

  /** how far the replica has replayed, at the last poll */
  let replayed: bigint | undefined;
  /** why reads cannot go to the replica now; undefined while they can */
  let down: string | undefined;
  /** the furthest position a read wanted and the replica had not replayed, and since when */
  let waiting: { position: bigint; since: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let closed = false;

  const setDown = (reason: string) => {
    if (down === undefined)
      logger.warn({ reason }, 'the read replica cannot be used; reads go to the primary');
    down = reason;
  };

  const poll = async () => {
    try {
      const { replayed: position } = await within(ANSWER_MS, replayPosition(replica.db));
      if (position === null) {
        setDown('it is not a standby (pg_is_in_recovery() is false)');
        return;
      }
      if (down !== undefined)
        logger.info('the read replica answers again; reads of what it has replayed go there');
      down = undefined;
      replayed = position;
      if (waiting !== undefined && position >= waiting.position) {
        metrics.replicaCatchUp.observe((Date.now() - waiting.since) / 1000);
        waiting = undefined;
      }
    } catch (error) {
      setDown(`it does not answer (${(error as Error).message})`);
    }
  };

  const schedule = (ms: number) => {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => {
      polling = true;
      poll().finally(() => {
        polling = false;
        schedule(waiting !== undefined && down === undefined ? REPLAY_POLL_MS.waiting : REPLAY_POLL_MS.idle);
      });
    }, ms);
    timer.unref();
  };

  const waitFor = (position: bigint | undefined) => {
    // a version the catalog holds no position for yet gets one at its next reload
    if (position === undefined) return;
    if (waiting === undefined) {
      waiting = { position, since: Date.now() };
      if (!polling) schedule(0);
    } else if (position > waiting.position) waiting.position = position;
  };

  const choose = (versions: VersionsRead): Choice => {
    if (down !== undefined) return 'down';
    for (const version of versions) {
      const position = version?.lsn;
      if (position === undefined || replayed === undefined || position > replayed) {
        waitFor(position);
        return 'behind';
      }
    }
    return 'replica';
  };

  /** A read the replica failed: the primary answers it; a replica that does not answer is not asked again until a poll finds it. */
  const failed = (error: unknown) => {
    // a statement its own timeout cancelled would take as long on the primary: not asked again
    if (classifyError(error).kind !== 'unavailable' || hasSqlState(error, PgError.queryCanceled)) throw error;
    metrics.replicaFallbacks.inc({ reason: 'error' });
    if (
      error instanceof UnavailableError ||
      [PgError.adminShutdown, PgError.crashShutdown, PgError.cannotConnectNow].some((code) =>
        hasSqlState(error, code),
      )
    ) {
      setDown(`it failed a read (${(error as Error).message})`);
    } else logger.warn({ err: error }, 'the read replica failed a read; the primary answers it');
  };

  await poll();
  schedule(REPLAY_POLL_MS.idle);

  return {
    run: async (versions, work) => {
      const choice = choose(versions);
      if (choice === 'replica') {
        try {
          const value = await work(replica);
          replicaReads.inc();
          return value;
        } catch (error) {
          failed(error);
        }
      } else metrics.replicaFallbacks.inc({ reason: choice });
      primaryReads.inc();
      return work(primary);
    },
    stream: async (versions, res, work) => {
      const choice = choose(versions);
      let client: pg.PoolClient | undefined;
      if (choice === 'replica') {
        try {
          client = await replica.pool.connect();
          replicaReads.inc();
        } catch (error) {
          failed(error);
        }
      } else metrics.replicaFallbacks.inc({ reason: choice });
      if (client === undefined) {
        client = await primary.pool.connect();
        primaryReads.inc();
      }
      // once bytes have left, a failure cuts the response wherever it is read from
      await streamOnConnection(client, res, work);
    },
    // the first poll has run: either it said why the replica cannot be used, or how far it replayed
    replicaState: () => down ?? 'ok',
    replicaUp: () => down === undefined && replayed !== undefined,
    replicaLagBytes: async () => {
      try {
        const [primaryAt, { replayed: at }] = await within(
          ANSWER_MS,
          Promise.all([walPosition(primary.db), replayPosition(replica.db)]),
        );
        return at === null ? Number.NaN : Number(primaryAt > at ? primaryAt - at : 0n);
      } catch {
        return Number.NaN;
      }
    },
    close: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}
