import { createConfig, lintFromString } from '@redocly/openapi-core';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { useConnections, useFileRedisPrefix, useTestDatabase } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';

const database = useTestDatabase('api_openapi');
const { db, runtime } = useConnections(database);
// one Redis prefix for the file, also the CLI's (ALMANAC_REDIS_PREFIX)
const prefix = useFileRedisPrefix().current;
let api: TestApi;
type Operation = {
  operationId?: string;
  security?: unknown[];
  parameters?: { name: string; in: string; schema: { type?: string; anyOf?: { type?: string }[] } }[];
  responses: Record<string, { content?: Record<string, unknown> }>;
};
let doc: {
  servers?: unknown[];
  info: { license?: unknown };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { type?: unknown }> };
};
const PUBLIC = ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs'];
const ajv = new Ajv2020({ strict: false, allErrors: true });

beforeAll(async () => {
  await applySpec(db(), { name: 'ext', estimator: 'external' });
  await importCsv(runtime(), 'ext', readableOf('key,value,lower,upper\nA,1,0,2\nB,2,,\n'), 'test');
  // a second version, held by the gate (B was removed): its stored report compares it with the first
  await importCsv(runtime(), 'ext', readableOf('key,value\nA,1.5\nC,3\n'), 'test');
  api = await startTestApi(database.url, prefix);
  doc = (await api.json('/openapi.json')).body as typeof doc;
  ajv.addSchema(doc, 'openapi');
});
afterAll(async () => {
  await api?.close();
});

/** Validates an answer against the document's schema for that operation and status. */
function conforms(
  template: string,
  method: string,
  status: number,
  contentType: string,
  body: unknown,
): string[] {
  const operation = doc.paths[template]?.[method];
  expect(operation, `${method} ${template} is in the document`).toBeDefined();
  const content = operation?.responses[String(status)]?.content;
  expect(content?.[contentType], `${method} ${template} documents ${status} ${contentType}`).toBeDefined();
  const pointer = `openapi#/paths/${template.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}/content/${contentType.replaceAll('/', '~1')}/schema`;
  const validate = ajv.compile({ $ref: pointer });
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document covering every route of the API', () => {
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
    for (const path of [
      '/v1/models',
      '/v1/models/{model}',
      '/v1/models/{model}/versions',
      '/v1/models/{model}/versions/{version}',
      '/v1/models/{model}/estimates/{key}',
      '/v1/models/{model}/estimates/batch',
      '/v1/models/{model}/versions/{version}/snapshot',
      '/v1/models/{model}/versions/{version}/drift',
      '/v1/models/{model}/diff',
      '/v1/models/{model}/runs',
      '/v1/runs/{runId}',
      '/v1/models/{model}/versions/{version}/publish',
      '/v1/models/{model}/versions/{version}/reject',
      '/healthz',
      '/readyz',
      '/metrics',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });

  it('has no problem by an independent validator (Redocly, recommended rules)', async () => {
    const config = await createConfig({
      extends: ['recommended'],
      // the public probes (liveness, metrics, this document, the page) have no 4xx answer, by design
      rules: { 'operation-4xx-response': 'off' },
    });
    const problems = await lintFromString({
      source: JSON.stringify(doc),
      absoluteRef: 'openapi.json',
      config,
    });
    expect(problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`)).toEqual(
      [],
    );
  });

  it('names every operation once, secures all but the public routes, and says where it is served', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
    );
    for (const { path, method, operation } of operations) {
      expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(operation.security, `${method} ${path}`).toEqual(PUBLIC.includes(path) ? [] : [{ bearer: [] }]);
      if (!PUBLIC.includes(path)) {
        expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(
          expect.arrayContaining(['401', '429', '503']),
        );
      }
    }
    expect(new Set(operations.map(({ operation }) => operation.operationId)).size).toBe(operations.length);
    expect(doc.paths['/v1/models/{model}']?.put?.responses).toHaveProperty('403');
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
    expect(doc.info.license).toEqual({ name: 'MIT', identifier: 'MIT' });
  });

  it('types numbers sent as text as integers, and makes nothing nullable that is never null', () => {
    const parameter = (path: string, method: string, name: string) =>
      doc.paths[path]?.[method]?.parameters?.find((p) => p.name === name)?.schema;
    expect(parameter('/v1/models/{model}/versions', 'get', 'limit')).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 1000,
    });
    expect(parameter('/v1/models/{model}/versions/{version}/publish', 'post', 'version')).toMatchObject({
      type: 'integer',
      minimum: 1,
    });
    expect(parameter('/v1/models/{model}/estimates/{key}', 'get', 'version')?.anyOf).toEqual([
      expect.objectContaining({ type: 'integer' }),
      expect.objectContaining({ type: 'string', enum: ['latest'] }),
    ]);
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      expect([schema.type].flat(), name).not.toContain('null');
    }
  });

  it('is rendered at /docs by a page served from this server alone', async () => {
    const page = await api.request('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      expect(asset).toMatch(/^\/docs\//);
      const res = await api.request(asset);
      expect(res.status, asset).toBe(200);
      await res.arrayBuffer();
    }
    expect(await (await api.request('/docs/init.js')).text()).toContain("url: '/openapi.json'");
    expect((await api.request('/docs/assets/index.html')).status).toBe(404);
  });

  it('describes real answers, successes and problems alike', async () => {
    const cases: [string, string, string, RequestInit | undefined][] = [
      ['/v1/models', '/v1/models', 'get', undefined],
      ['/v1/models/ext', '/v1/models/{model}', 'get', undefined],
      ['/v1/models/ext/versions', '/v1/models/{model}/versions', 'get', undefined],
      ['/v1/models/ext/versions/1', '/v1/models/{model}/versions/{version}', 'get', undefined],
      ['/v1/models/ext/estimates/A', '/v1/models/{model}/estimates/{key}', 'get', undefined],
      ['/v1/models/ext/estimates/B?version=1', '/v1/models/{model}/estimates/{key}', 'get', undefined],
      ['/v1/models/ext/estimates/NOPE', '/v1/models/{model}/estimates/{key}', 'get', undefined],
      ['/v1/models/ext/estimates/A?version=x', '/v1/models/{model}/estimates/{key}', 'get', undefined],
      ['/v1/models/ext/runs', '/v1/models/{model}/runs', 'get', undefined],
      ['/v1/models/ext/versions/1/drift', '/v1/models/{model}/versions/{version}/drift', 'get', undefined],
      ['/v1/models/ext/versions/2/drift', '/v1/models/{model}/versions/{version}/drift', 'get', undefined],
      ['/v1/models/ext/diff?from=1&to=2', '/v1/models/{model}/diff', 'get', undefined],
      ['/v1/models/ext/diff?from=1', '/v1/models/{model}/diff', 'get', undefined],
      ['/healthz', '/healthz', 'get', undefined],
      ['/readyz', '/readyz', 'get', undefined],
      ['/healthz?x=1', '/healthz', 'get', undefined],
      ['/v1/models?x=1', '/v1/models', 'get', undefined],
      [
        '/v1/models/ext/estimates/batch',
        '/v1/models/{model}/estimates/batch',
        'post',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"keys":["A","Z"]}' },
      ],
      [
        '/v1/models/ext/estimates/batch',
        '/v1/models/{model}/estimates/batch',
        'post',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"keys":[]}' },
      ],
      [
        '/v1/models/ext/versions/1/reject',
        '/v1/models/{model}/versions/{version}/reject',
        'post',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
      ],
      ['/v1/models/ext/runs', '/v1/models/{model}/runs', 'post', { method: 'POST' }],
    ];
    for (const [url, template, method, init] of cases) {
      const res = await api.json(url, init);
      const type = (res.headers.get('content-type') ?? '').split(';')[0] ?? '';
      expect(
        conforms(template, method, res.status, type, res.body),
        `${method} ${url} → ${res.status}`,
      ).toEqual([]);
    }
  });
});
