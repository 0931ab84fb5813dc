import { z } from 'zod';
import { listPublications } from '../../db/publications.ts';
import { modelPage } from '../page.ts';
import { limitQuery, modelParam } from '../params.ts';
import { json, Publication, page as pageOf } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { publicationView } from '../views.ts';

const CURSOR = 'must be the nextCursor of a previous page';

export const historyQuery = z
  .object({
    limit: limitQuery.optional(),
    cursor: z
      .string()
      .transform((text, ctx) => {
        const [at, id] = Buffer.from(text, 'base64url').toString('utf8').split('|');
        const validFrom = new Date(at ?? '');
        if (Number.isNaN(validFrom.getTime()) || !/^[1-9]\d{0,18}$/.test(id ?? '')) {
          ctx.addIssue({ code: 'custom', message: CURSOR });
          return z.NEVER;
        }
        return { validFrom, id: id as string };
      })
      .optional(),
  })
  .strict();

/** Which version was live when: the publication intervals that `?at=` lookups answer from. */
export const historyRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/history',
    operationId: 'getHistory',
    summary:
      'Publication intervals, newest first: each version that was live, from when (inclusive) to when (exclusive), who put it there and why',
    access: 'read',
    params: modelParam,
    query: historyQuery,
    responses: { 200: json(pageOf(Publication), 'a page of publication intervals') },
    handle: async ({ params, query }, { res, deps }) => {
      res.json(
        await modelPage(deps.db, params.model, query.limit, {
          fetch: (rows) =>
            listPublications(deps.db, params.model, {
              limit: rows,
              ...(query.cursor === undefined ? {} : { before: query.cursor }),
            }),
          view: publicationView,
          cursorOf: (last) => Buffer.from(`${last.validFrom.toISOString()}|${last.id}`).toString('base64url'),
        }),
      );
    },
  }),
];
