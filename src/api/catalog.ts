import type pg from 'pg';
import type { Logger } from 'pino';
import { listModelStates, type ModelState } from '../db/catalog-state.ts';
import { CHANGES_CHANNEL, type Change, listenForChanges } from '../db/changes.ts';
import type { Db } from '../db/database.ts';
import { createClient } from '../db/database.ts';
import type { VersionState } from '../db/types.ts';
import type { ModelSpec } from '../model/spec.ts';

export type VersionEntry = {
  id: string;
  number: number;
  state: VersionState;
  /** when its rows were made, in ms: how fresh its data is */
  createdAt: number;
  publishedAt: Date | null;
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
 * committing. A lost LISTEN connection is re-established and everything reloaded.
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

/** A model's state as the catalog holds it (the CLI's `lookup` builds one the same way). */
export function modelEntryOf(state: ModelState): ModelEntry {
  const versions = new Map(
    state.versions.map((version) => [version.number, { ...version, createdAt: version.createdAt.getTime() }]),
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

  const reload = async (name?: string) => {
    const states = await listModelStates(db, name);
    if (name !== undefined && states.length === 0) entries.delete(name);
    if (name === undefined) entries.clear();
    for (const state of states) entries.set(state.name, modelEntryOf(state));
  };

  const listen = async () => {
    const client = createClient(databaseUrl, 'almanac-api-listen');
    client.on('notification', (message) => {
      if (message.channel !== CHANGES_CHANNEL) return;
      const change = JSON.parse(message.payload ?? '{}') as Change;
      if (change.table === 'api_keys') {
        for (const notify of keyListeners) notify();
      } else if (typeof change.model === 'string') {
        reload(change.model).catch((error: unknown) =>
          logger.warn({ err: error }, 'could not reload a model'),
        );
      }
    });
    client.on('error', (error) => {
      logger.warn({ err: error }, 'lost the LISTEN connection; reconnecting');
      listener = undefined;
      client.end().catch(() => {});
      scheduleReconnect();
    });
    await client.connect();
    await listenForChanges(client);
    listener = client;
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
