import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.ts';
import { parseSpec } from '../src/model/spec.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { useConnections, useTestDatabase } from './helpers/hooks.ts';

const database = useTestDatabase('spec');
const { db } = useConnections(database);

beforeAll(async () => {
  await sql`CREATE SCHEMA shop`.execute(db());
  await sql`CREATE TABLE shop.sales (store_sku text, day date, units integer, price numeric(10,2),
            promo boolean, label text, at timestamptz, units_next double precision)`.execute(db());
});

const good = () => ({
  name: 'shop-units',
  estimator: 'ridge',
  source: {
    table: 'shop.sales',
    key: 'store_sku',
    time: 'day',
    target: 'units_next',
    features: ['units', 'price'],
  },
});

async function problems(input: unknown): Promise<string[]> {
  try {
    await validateSpec(db(), input);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
}

describe('model spec validation', () => {
  it('accepts a good spec and fills every default in one place', async () => {
    const spec = await validateSpec(db(), good());
    expect(spec).toEqual({
      ...good(),
      description: '',
      params: { alpha: 1 },
      trainWindowDays: 90,
      holdoutDays: 7,
      schedule: { cron: '0 2 * * *', timezone: 'UTC', paused: false },
      drift: {
        maxPsi: 0.2,
        maxKs: 0.1,
        maxWassersteinNorm: 0.1,
        maxChangedShare: 0.5,
        changeTolerance: 0.1,
        maxRemovedShare: 0.05,
        minRows: 1,
      },
      alerts: {},
      retention: { keepVersions: 30 },
      shards: 1,
    });
  });

  it('accepts an external model without a source, and timestamp time columns', async () => {
    await expect(validateSpec(db(), { name: 'from-python', estimator: 'external' })).resolves.toMatchObject({
      estimator: 'external',
    });
    const timed = { ...good(), source: { ...good().source, time: 'at' } };
    await expect(validateSpec(db(), timed)).resolves.toMatchObject({ name: 'shop-units' });
  });

  const rejections: [string, unknown, string[]][] = [
    [
      'a name that cannot go in a URL',
      { ...good(), name: 'Shop Units' },
      ['name: must be 1 to 63 characters'],
    ],
    ['a name that is too long', { ...good(), name: 'x'.repeat(64) }, ['name: must be 1 to 63 characters']],
    [
      'an unknown estimator',
      { ...good(), estimator: 'xgboost' },
      ['estimator: unknown estimator "xgboost"; known: ridge, naive, external'],
    ],
    ['a negative alpha', { ...good(), params: { alpha: -1 } }, ['params.alpha: must be 0 or more']],
    ['an unknown parameter', { ...good(), params: { lambda: 1 } }, ['params.lambda: unknown field']],
    [
      'a naive feature outside the features',
      { ...good(), estimator: 'naive', params: { feature: 'promo' } },
      ['params.feature: "promo" is not one of source.features'],
    ],
    [
      'a computed model without a source',
      { name: 'x', estimator: 'ridge' },
      ['source: is required by the ridge estimator'],
    ],
    [
      'a cron of four fields',
      { ...good(), schedule: { cron: '0 2 * *' } },
      ['schedule.cron: must have five fields'],
    ],
    [
      'a cron with seconds',
      { ...good(), schedule: { cron: '0 0 2 * * *' } },
      ['schedule.cron: must have five fields'],
    ],
    [
      'a cron out of range',
      { ...good(), schedule: { cron: '61 2 * * *' } },
      ['schedule.cron: invalid cron "61 2 * * *"'],
    ],
    [
      'an unknown time zone',
      { ...good(), schedule: { timezone: 'Mars/Olympus' } },
      ['schedule.timezone: unknown time zone "Mars/Olympus"'],
    ],
    [
      'a holdout as long as the window',
      { ...good(), trainWindowDays: 7, holdoutDays: 7 },
      ['holdoutDays: must be less than trainWindowDays (7)'],
    ],
    ['a misspelt field', { ...good(), trainWindow: 30 }, ['trainWindow: unknown field']],
    ['a drift share above 1', { ...good(), drift: { maxKs: 2 } }, ['drift.maxKs: must be from 0 to 1']],
    [
      'keeping no version',
      { ...good(), retention: { keepVersions: 0 } },
      ['retention.keepVersions: must be'],
    ],
    [
      'a webhook that is not http',
      { ...good(), alerts: { webhookUrl: 'ftp://x' } },
      ['alerts.webhookUrl: must be an http or https URL'],
    ],
    [
      'a missing table',
      { ...good(), source: { ...good().source, table: 'shop.nope' } },
      ['source.table: table "shop.nope" does not exist'],
    ],
    [
      'a missing key column',
      { ...good(), source: { ...good().source, key: 'sku' } },
      ['source.key: column "sku" does not exist in shop.sales'],
    ],
    [
      'a time column that is not a date',
      { ...good(), source: { ...good().source, time: 'units' } },
      ['source.time: column "units" is integer; it must be a date or timestamp'],
    ],
    [
      'a text target',
      { ...good(), source: { ...good().source, target: 'label' } },
      ['source.target: column "label" is text; it must be numeric'],
    ],
    [
      'an unknown feature',
      { ...good(), source: { ...good().source, features: ['units', 'qty'] } },
      ['source.features.1: column "qty" does not exist in shop.sales'],
    ],
    [
      'a boolean feature',
      { ...good(), source: { ...good().source, features: ['promo'] } },
      ['source.features.0: column "promo" is boolean; it must be numeric'],
    ],
    [
      'the target among the features',
      { ...good(), source: { ...good().source, features: ['units_next'] } },
      ['source.target: "units_next" is also a feature'],
    ],
    [
      'a repeated feature',
      { ...good(), source: { ...good().source, features: ['units', 'units'] } },
      ['source.features: must not repeat a feature'],
    ],
    [
      'no features',
      { ...good(), source: { ...good().source, features: [] } },
      ['source.features: must list at least one feature'],
    ],
    [
      'a column name that is not an identifier',
      { ...good(), source: { ...good().source, key: 'a;drop' } },
      ['source.key: must be a plain column name'],
    ],
    ['something that is not an object', 'nasdaq', ['must be an object']],
  ];

  it.each(rejections)('rejects %s', async (_reason, input, expected) => {
    const found = await problems(input);
    expect(found).toHaveLength(expected.length);
    expected.forEach((prefix, i) => {
      expect(found[i]).toContain(prefix);
    });
  });

  it('reports every problem at once: a bad cron, an unknown column and a text feature', async () => {
    const spec = {
      ...good(),
      schedule: { cron: '0 25 * * *' },
      source: { ...good().source, key: 'sku', features: ['units', 'label'] },
    };
    const found = await problems(spec);
    expect(found).toEqual([
      expect.stringMatching(/^schedule\.cron: invalid cron "0 25 \* \* \*"/),
      'source.key: column "sku" does not exist in shop.sales',
      expect.stringMatching(/^source\.features\.1: column "label" is text; it must be numeric/),
    ]);
  });

  it('looks up the well-formed parts of a source that has a shape error of its own', async () => {
    const spec = {
      ...good(),
      source: { ...good().source, key: 'sku', time: 'a;b', features: ['label', 'label'] },
    };
    expect(await problems(spec)).toEqual([
      expect.stringMatching(/^source\.time: must be a plain column name/),
      'source.features: must not repeat a feature',
      'source.key: column "sku" does not exist in shop.sales',
      expect.stringMatching(/^source\.features\.0: column "label" is text; it must be numeric/),
    ]);
    const odd = { ...good(), source: { ...good().source, target: 'nope', features: [7, 'label'] } };
    expect(await problems(odd)).toEqual([
      expect.stringMatching(/^source\.features\.0: /),
      'source.target: column "nope" does not exist in shop.sales',
      expect.stringMatching(/^source\.features\.1: column "label" is text/),
    ]);
  });

  it("takes a description of several lines, in any platform's line breaks", async () => {
    expect(await problems({ ...good(), description: 'one\r\ntwo\n\tthree' })).toEqual([]);
  });

  it('checks a shape without a database too', () => {
    expect(parseSpec({ name: 'x', estimator: 'external' }).issues).toEqual([]);
    expect(parseSpec({ name: 'x' }).issues.map((issue) => issue.path)).toEqual(['estimator']);
  });
});
