import type pg from 'pg';
import type { Logger } from 'pino';
import { listModelStates, type ModelState } from '../db/catalog-state.ts';
import { CHANGES_CHANNEL, listenForChanges, parseChange } from '../db/changes.ts';
import { createClient } from '../db/client.ts';
import type { Db } from '../db/database.ts';
import { createDbOnClient } from '../db/database.ts';
import { walPosition } from '../db/replication.ts';
import type { VersionState } from '../db/types.ts';
import type { ModelSpec } from '../model/spec.ts';
import { WITH_ROWS } from '../versions/states.ts';

export type VersionEntry = {
  id: string;
  number: number;
  state: VersionState;
  /** when its rows were made, in ms: how fresh its data is */
  createdAt: number;
  publishedAt: Date | null;
  /**
   * a position in the primary's WAL by which its rows were committed: the primary's position when
   * this catalog first saw it with rows (held, published, superseded or rejected: its rows are
   * complete before it takes any of these states). A replica may answer for it once it has
   * replayed this far (src/api/version-reads.ts). Undefined while it has no rows.
   */
  lsn: bigint | undefined;
};
/** A publication interval: `version` was live from `from` (inclusive) to `to` (exclusive; open: undefined), in ms. */
export type Interval = { version: VersionEntry; from: number; to: number | undefined };
export type ModelEntry = {
  name: string;
  spec: ModelSpec;
  published: VersionEntry | undefined;
  versions: Map<number, VersionEntry>;
  /** oldest first */
  history: Interval[];
};

/**
 * Every model's state and versions, held in memory so that a lookup of "latest" costs no query.
 * The database announces every change on `almanac_changes` (a trigger); this catalog LISTENs and
 * reloads the model that changed, so every API process switches within milliseconds of a publish
 * committing. A lost LISTEN connection is re-established and everything reloaded. LISTEN and the
 * reloads are the primary's: each reload also reads the primary's WAL position, which is what a
 * replica must have replayed before it answers for a version (`VersionEntry.lsn`).
 */
export type Catalog = {
  model: (name: string) => ModelEntry | undefined;
  models: () => ModelEntry[];
  /** reloads one model now (or all when no name), e.g. after this process changed it */
  reload: (name?: string) => Promise<void>;
  /** called when API keys change */
  onKeysChanged: (listener: () => void) => void;
  /** true while the LISTEN connection is up */
  listening: () => boolean;
  close: () => Promise<void>;
};

/**
 * The catalog's entry of a version read from the database (snapshots and diffs read their
 * versions there), when it holds that version: the same number and the same id.
 */
export function catalogEntryOf(
  catalog: Catalog,
  model: string,
  version: { id: string; number: number },
): VersionEntry | undefined {
  const entry = catalog.model(model)?.versions.get(version.number);
  return entry?.id === version.id ? entry : undefined;
}

/**
 * A model's state as the catalog holds it (the CLI's `lookup` builds one the same way). `seen` is
 * the primary's WAL position read after `state`, and the entry it replaces: a version keeps the
 * position it was first seen with rows at (its rows never change), a newly seen one takes `seen`.
 */
export function modelEntryOf(
  state: ModelState,
  seen?: { position: bigint; before: ModelEntry | undefined },
): ModelEntry {
  const lsnOf = (version: ModelState['versions'][number]) => {
    if (seen === undefined || !WITH_ROWS.has(version.state)) return undefined;
    const before = seen.before?.versions.get(version.number);
    return before?.id === version.id && before.lsn !== undefined ? before.lsn : seen.position;
  };
  const versions = new Map(
    state.versions.map((version) => [
      version.number,
      { ...version, createdAt: version.createdAt.getTime(), lsn: lsnOf(version) },
    ]),
  );
  const published = [...versions.values()].find((version) => version.state === 'published');
  const history = state.history.flatMap((interval) => {
    const version = versions.get(interval.number);
    return version === undefined
      ? []
      : [{ version, from: interval.from.getTime(), to: interval.to?.getTime() }];
  });
  return { name: state.name, spec: state.spec, published, versions, history };
}

export async function createCatalog(db: Db, databaseUrl: string, logger: Logger): Promise<Catalog> {
  const entries = new Map<string, ModelEntry>();
  const keyListeners: (() => void)[] = [];
  let listener: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  // Reloads read on the LISTEN connection while there is one: under load the pool's connections
  // are all busy with lookups, and a reload queued behind them kept serving a version seconds
  // after another was published.
  let reader: Db = db;
  // one reload at a time: they share the LISTEN connection, which runs one query at a time
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (name?: string): Promise<void> => {
    const next = reloading.then(() => reloadNow(name));
    reloading = next.catch(() => {});
    return next;
  };
  const reloadNow = async (name?: string) => {
    const on = reader;
    const states = await listModelStates(on, name);
    // read after the states: every commit they show ends before it
    const position = await walPosition(on);
    const reloaded = states.map((state) =>
      modelEntryOf(state, { position, before: entries.get(state.name) }),
    );
    if (name !== undefined && states.length === 0) entries.delete(name);
    if (name === undefined) entries.clear();
    for (const entry of reloaded) entries.set(entry.name, entry);
  };

  // One publish notifies several rows' changes: a model's reloads run one at a time, and the
  // notifications that come during one make a single reload after it.
  const inFlight = new Set<string>();
  const again = new Set<string>();
  const reloadSoon = (model: string) => {
    if (inFlight.has(model)) {
      again.add(model);
      return;
    }
    inFlight.add(model);
    reload(model)
      .catch((error: unknown) => logger.warn({ err: error }, 'could not reload a model'))
      .finally(() => {
        inFlight.delete(model);
        if (again.delete(model)) reloadSoon(model);
      });
  };

  const listen = async () => {
    const client = createClient(databaseUrl, 'almanac-api-listen');
    client.on('notification', (message) => {
      if (message.channel !== CHANGES_CHANNEL) return;
      const change = parseChange(message.payload);
      if (change === undefined) {
        logger.warn(
          { payload: message.payload?.slice(0, 200) },
          'ignored a change notification not from Almanac',
        );
      } else if (change.table === 'api_keys') {
        for (const notify of keyListeners) notify();
      } else if (change.model !== null) {
        reloadSoon(change.model);
      }
    });
    client.on('error', (error) => {
      logger.warn({ err: error }, 'lost the LISTEN connection; reconnecting');
      listener = undefined;
      reader = db;
      client.end().catch(() => {});
      scheduleReconnect();
    });
    await client.connect();
    await listenForChanges(client);
    listener = client;
    reader = createDbOnClient(client);
    // Changes made while not listening are caught by reloading everything once listening.
    await reload();
    for (const notify of keyListeners) notify();
  };

  const scheduleReconnect = () => {
    if (closed || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      listen().catch((error: unknown) => {
        logger.warn({ err: error }, 'could not LISTEN yet');
        scheduleReconnect();
      });
    }, 1_000);
  };

  await listen();
  return {
    model: (name) => entries.get(name),
    models: () => [...entries.values()].sort((a, b) => a.name.localeCompare(b.name)),
    reload,
    onKeysChanged: (notify) => keyListeners.push(notify),
    listening: () => listener !== undefined,
    close: async () => {
      closed = true;
      clearTimeout(retry);
      await listener?.end().catch(() => {});
      listener = undefined;
    },
  };
}
