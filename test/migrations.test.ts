import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { hasSqlState, PgError } from '../src/db/pg-errors.ts';
import { useConnections, useTestDatabase } from './helpers/hooks.ts';
import { dumpSchema } from './helpers/schema.ts';

const database = useTestDatabase('migrations', { migrate: false });
const { db, pool } = useConnections(database);

async function sqlState(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('migrations', () => {
  it('create the public schema of README.md on an empty database', async () => {
    const outcome = await migrateToLatest(db());
    expect(outcome.applied).toEqual([
      '0001_initial',
      '0002_change_notifications',
      '0003_dashboard_sessions',
      '0004_pins',
      '0005_input_checks',
      '0006_direct_readers',
      '0007_alert_outbox',
      '0008_run_shards',
      '0009_security_barrier_views',
    ]);
    await expect(dumpSchema(db())).resolves.toMatchFileSnapshot('./fixtures/schema.txt');
  });

  it('are a no-op when run again, from another connection too', async () => {
    const before = await dumpSchema(db());
    const other = openDatabase(database.url, { max: 1, applicationName: 'almanac-test-other' });
    try {
      await expect(migrateToLatest(other.db)).resolves.toEqual({ applied: [], alreadyCurrent: true });
    } finally {
      await other.close();
    }
    await expect(migrateToLatest(db())).resolves.toEqual({ applied: [], alreadyCurrent: true });
    expect(await dumpSchema(db())).toBe(before);
  });

  describe('constraints guard the invariants', () => {
    const spec = JSON.stringify({ name: 'm' });

    it('allow at most one published version per model', async () => {
      await sql`INSERT INTO models (name, spec) VALUES ('m', ${spec}), ('other', ${spec})`.execute(db());
      await sql`INSERT INTO versions (model, number, state) VALUES ('m', 1, 'published'), ('m', 2, 'held'),
                ('other', 1, 'published')`.execute(db());
      const second = sql`UPDATE versions SET state = 'published' WHERE model = 'm' AND number = 2`.execute(
        db(),
      );
      expect(await sqlState(second)).toBe(PgError.uniqueViolation);
    });

    it('keep version numbers unique per model', async () => {
      const duplicate = sql`INSERT INTO versions (model, number) VALUES ('m', 1)`.execute(db());
      expect(await sqlState(duplicate)).toBe(PgError.uniqueViolation);
    });

    it("limit states and phases to the lifecycle's", async () => {
      expect(
        await sqlState(
          sql`INSERT INTO versions (model, number, state) VALUES ('m', 9, 'live')`.execute(db()),
        ),
      ).toBe(PgError.checkViolation);
      expect(
        await sqlState(
          sql`INSERT INTO runs (model, slot, trigger, state) VALUES ('m', 's', 't', 'done')`.execute(db()),
        ),
      ).toBe(PgError.checkViolation);
      expect(
        await sqlState(
          sql`INSERT INTO runs (model, slot, trigger, phase) VALUES ('m', 's', 't', 'sleeping')`.execute(
            db(),
          ),
        ),
      ).toBe(PgError.checkViolation);
    });

    it('run a (model, slot) once: a second request does nothing', async () => {
      const request = () =>
        sql<{ id: string }>`INSERT INTO runs (model, slot, trigger) VALUES ('m', '20261128T0200Z', 'cron')
            ON CONFLICT (model, slot) DO NOTHING RETURNING id`.execute(db());
      expect((await request()).rows).toHaveLength(1);
      expect((await request()).rows).toHaveLength(0);
    });

    it('point a model only at a version of its own', async () => {
      const { rows } = await sql<{ id: string }>`SELECT id FROM versions WHERE model = 'other'`.execute(db());
      const wrong = sql`UPDATE models SET published_version_id = ${rows[0]?.id} WHERE name = 'm'`.execute(
        db(),
      );
      expect(await sqlState(wrong)).toBe(PgError.foreignKeyViolation);
    });

    it('reject model names that cannot appear in URLs, job ids and metric labels', async () => {
      const bad = sql`INSERT INTO models (name, spec) VALUES ('Bad Name', ${spec})`.execute(db());
      expect(await sqlState(bad)).toBe(PgError.checkViolation);
    });

    it('keep one open publication per model', async () => {
      const { rows } = await sql<{
        id: string;
      }>`SELECT id FROM versions WHERE model = 'm' AND number = 1`.execute(db());
      const id = rows[0]?.id;
      await sql`INSERT INTO publications (model, version_id, actor) VALUES ('m', ${id}, 'test')`.execute(
        db(),
      );
      const again =
        sql`INSERT INTO publications (model, version_id, actor) VALUES ('m', ${id}, 'test')`.execute(db());
      expect(await sqlState(again)).toBe(PgError.uniqueViolation);
    });

    it('serve latest_estimates from the published version only', async () => {
      await sql`CREATE TABLE estimates_test PARTITION OF estimates FOR VALUES IN (${sql.lit(1)})`.execute(
        db(),
      );
      const { rows: ids } = await sql<{
        id: string;
      }>`SELECT id FROM versions WHERE model = 'm' AND number = 1`.execute(db());
      expect(ids[0]?.id).toBe('1');
      await sql`INSERT INTO estimates (version_id, key, value) VALUES (1, 'AAPL', 1.5)`.execute(db());
      await sql`UPDATE models SET published_version_id = 1 WHERE name = 'm'`.execute(db());
      const { rows } = await sql`SELECT * FROM latest_estimates`.execute(db());
      expect(rows).toEqual([
        { model: 'm', version: 1, key: 'AAPL', value: 1.5, lower: null, upper: null, as_of: null },
      ]);
      const empty = sql`INSERT INTO estimates (version_id, key, value) VALUES (1, '', 1)`.execute(db());
      expect(hasSqlState(await empty.catch((e: unknown) => e), PgError.checkViolation)).toBe(true);
    });

    it('let almanac_reader read servable versions and the catalog, and nothing else', async () => {
      await sql`INSERT INTO versions (model, number, state) VALUES ('m', 3, 'running')`.execute(db());
      const { rows: versions } = await sql<{ id: string; number: number }>`
        SELECT id, number FROM versions WHERE model = 'm' AND number IN (2, 3)`.execute(db());
      for (const { id, number } of versions) {
        await sql`CREATE TABLE ${sql.id(`estimates_reader_${number}`)} PARTITION OF estimates
                  FOR VALUES IN (${sql.lit(Number(id))})`.execute(db());
        await sql`INSERT INTO estimates (version_id, key, value) VALUES (${id}, 'AAPL', ${number})`.execute(
          db(),
        );
      }
      const client = await pool().connect();
      try {
        await client.query('SET ROLE almanac_reader');
        const served = await client.query(
          'SELECT model, version, state, key, value FROM served_estimates ORDER BY version',
        );
        expect(served.rows).toEqual([
          { model: 'm', version: 1, state: 'published', key: 'AAPL', value: 1.5 },
          { model: 'm', version: 2, state: 'held', key: 'AAPL', value: 2 },
        ]);
        expect((await client.query('SELECT version FROM latest_estimates')).rows).toEqual([{ version: 1 }]);
        for (const table of ['models', 'versions', 'runs', 'run_shards', 'publications', 'pins']) {
          await expect(client.query(`SELECT count(*) FROM ${table}`)).resolves.toBeDefined();
        }
        for (const table of ['estimates', 'estimates_reader_3', 'api_keys', 'dashboard_sessions']) {
          expect(await sqlState(client.query(`SELECT * FROM ${table}`))).toBe(PgError.insufficientPrivilege);
        }
        expect(await sqlState(client.query(`DELETE FROM versions`))).toBe(PgError.insufficientPrivilege);
        // a function of its own, cheap enough to run first, sees only the rows the views show
        const seen: string[] = [];
        client.on('notice', (notice) => seen.push(notice.message ?? ''));
        await client.query(
          `CREATE FUNCTION pg_temp.leak(k text, v float8) RETURNS bool LANGUAGE plpgsql COST 0.0000001
           AS $$ BEGIN RAISE NOTICE 'saw % %', k, v; RETURN true; END $$`,
        );
        await client.query('SELECT count(*) FROM served_estimates WHERE pg_temp.leak(key, value)');
        await client.query('SELECT count(*) FROM latest_estimates WHERE pg_temp.leak(key, value)');
        await client.query('DROP FUNCTION pg_temp.leak');
        expect(seen.sort()).toEqual(['saw AAPL 1.5', 'saw AAPL 1.5', 'saw AAPL 2']);
      } finally {
        await client.query('RESET ROLE');
        client.release();
      }
    });
  });
});
