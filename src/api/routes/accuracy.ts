import { z } from 'zod';
import { servedAccuracy } from '../../versions/served-accuracy.ts';
import { wholeNumber } from '../../whole-number.ts';
import { modelParam } from '../params.ts';
import { json } from '../responses.ts';
import { defineRoute } from '../route.ts';

export const accuracyQuery = z
  .object({
    days: wholeNumber(1, 366).optional().describe('how many UTC days, ending with `to` (default 30)'),
    to: z.iso
      .date({ error: 'must be a day, e.g. 2026-05-01', abort: true })
      // nothing was served before there was Unix time, and a window reaching back past year 1 is
      // no day Postgres (or the Gregorian calendar) has
      .refine((day) => day >= '1970-01-01', 'must be a day from 1970-01-01 on')
      .optional()
      .describe('the last day (UTC, YYYY-MM-DD; default today)'),
  })
  .strict();

const nullableNumber = z.number().nullable();
export const ServedAccuracy = z.object({
  days: z.array(
    z.object({
      day: z.string().describe('a UTC day, YYYY-MM-DD, oldest first'),
      version: z
        .number()
        .int()
        .nullable()
        .describe("the version live at the day's end; null before the first publish"),
      mae: nullableNumber.describe("that version's realized MAE (null until its actuals are measured)"),
      naiveMae: nullableNumber,
      rows: z.number().int().describe('rows its realized figures were measured on'),
    }),
  ),
  servedMae: nullableNumber.describe('the mean of mae over the days that had a version'),
  servedNaiveMae: nullableNumber.describe('the mean of naiveMae over the same days'),
});

/** What clients were actually given, day by day, and how good it turned out to be. */
export const accuracyRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/accuracy',
    operationId: 'getServedAccuracy',
    summary:
      "Accuracy as served: for each UTC day, the version live at the day's end and its realized MAE beside naive's, and their means",
    access: 'read',
    params: modelParam,
    query: accuracyQuery,
    responses: { 200: json(ServedAccuracy, 'served accuracy per day') },
    handle: async ({ params, query }, { res, deps }) => {
      res.json(await servedAccuracy(deps.db, params.model, { days: query.days ?? 30, to: query.to }));
    },
  }),
];
