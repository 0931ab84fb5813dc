/**
 * Where each page is, and where the JSON it shows is: `/data` + the API's own path, read-only,
 * with the dashboard's session instead of a Bearer key (src/ui/dashboard.ts).
 */

const seg = encodeURIComponent;

export const DATA_PREFIX = '/data';

export const pagePath = {
  models: () => '/',
  model: (model: string) => `/models/${seg(model)}`,
  runs: (model: string) => `/models/${seg(model)}/runs`,
  version: (model: string, version: number) => `/models/${seg(model)}/versions/${version}`,
  diff: (model: string, from?: number, to?: number) =>
    `/models/${seg(model)}/diff${from === undefined || to === undefined ? '' : `?from=${from}&to=${to}`}`,
  action: (model: string, version: number, action: 'publish' | 'reject') =>
    `/models/${seg(model)}/versions/${version}/${action}`,
};

export const dataPath = {
  models: () => `${DATA_PREFIX}/v1/models`,
  model: (model: string) => `${DATA_PREFIX}/v1/models/${seg(model)}`,
  versions: (model: string) => `${DATA_PREFIX}/v1/models/${seg(model)}/versions`,
  runs: (model: string) => `${DATA_PREFIX}/v1/models/${seg(model)}/runs`,
  history: (model: string) => `${DATA_PREFIX}/v1/models/${seg(model)}/history`,
  accuracy: (model: string) => `${DATA_PREFIX}/v1/models/${seg(model)}/accuracy`,
  pins: (model: string) => `${DATA_PREFIX}/v1/models/${seg(model)}/pins`,
  version: (model: string, version: number) => `${DATA_PREFIX}/v1/models/${seg(model)}/versions/${version}`,
  drift: (model: string, version: number) =>
    `${DATA_PREFIX}/v1/models/${seg(model)}/versions/${version}/drift`,
  snapshot: (model: string, version: number, format: 'csv' | 'ndjson' | 'parquet') =>
    `${DATA_PREFIX}/v1/models/${seg(model)}/versions/${version}/snapshot?format=${format}`,
  diff: (model: string, from: number, to: number, format: 'json' | 'csv' = 'json') =>
    `${DATA_PREFIX}/v1/models/${seg(model)}/diff?from=${from}&to=${to}${format === 'csv' ? '&format=csv' : ''}`,
};
