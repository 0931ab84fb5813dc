import { describe, expect, it } from 'vitest';
import { ReportCache } from '../src/api/report-cache.ts';
import type { DriftReport } from '../src/drift/report.ts';
import { HttpError } from '../src/errors.ts';

const report = { psi: 0 } as DriftReport;

describe('the diff report cache', () => {
  it('computes a pair once, bounds the computations running at once, and forgets failures', async () => {
    const cache = new ReportCache(1);
    let finish: (value: DriftReport) => void = () => {};
    let computed = 0;
    const slow = () => {
      computed += 1;
      return new Promise<DriftReport>((resolve) => {
        finish = resolve;
      });
    };
    const first = cache.get('1', '2', { maxPsi: 0.2 }, slow);
    expect(cache.get('1', '2', { maxPsi: 0.2 }, slow)).toBe(first);
    let busy: unknown;
    try {
      cache.get('1', '3', { maxPsi: 0.2 }, slow);
    } catch (error) {
      busy = error;
    }
    expect(busy).toBeInstanceOf(HttpError);
    expect(busy).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
    finish(report);
    await expect(first).resolves.toBe(report);
    expect(computed).toBe(1);

    // another policy is another report; a failure is not kept
    await expect(
      cache.get('1', '2', { maxPsi: 0.3 }, () => Promise.reject(new Error('down'))),
    ).rejects.toThrow('down');
    await expect(cache.get('1', '2', { maxPsi: 0.3 }, async () => report)).resolves.toBe(report);
  });
});
