import { z } from 'zod';
import { consumerName, modelPins, pinNote, pinVersion, unpinVersion } from '../../versions/pins.ts';
import { futureInstant, modelName, modelParam, versionNumber } from '../params.ts';
import { json, Pin, problem } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { pinView } from '../views.ts';

const pinParams = z.object({ model: modelName, consumer: consumerName });

export const pinBody = z
  .object({
    version: versionNumber,
    expiresAt: futureInstant.nullable().optional(),
    note: pinNote.nullable().optional(),
  })
  .strict();

/** Who depends on which version: retention keeps a version while an unexpired pin names it. */
export const pinRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/pins',
    operationId: 'listPins',
    summary: 'The pins on a model, by consumer (expired ones too, saying so)',
    access: 'read',
    params: modelParam,
    responses: { 200: json(z.object({ items: z.array(Pin) }), 'the pins') },
    handle: async ({ params }, { res, deps }) => {
      res.json({ items: (await modelPins(deps.db, params.model)).map(pinView) });
    },
  }),
  defineRoute({
    method: 'put',
    path: '/v1/models/{model}/pins/{consumer}',
    operationId: 'putPin',
    summary:
      'Pin a consumer to a version (moving its pin if it had one): retention keeps the version until the pin expires or is removed',
    access: 'admin',
    params: pinParams,
    body: { type: 'application/json', schema: pinBody, required: true },
    responses: {
      200: json(Pin, 'the pin moved'),
      201: json(Pin, 'pinned'),
      410: problem('the version was pruned by retention'),
    },
    handle: async ({ params, body }, { res, deps }) => {
      const { pin, created } = await pinVersion(deps.db, params.model, params.consumer, {
        version: body.version,
        expiresAt: body.expiresAt ?? null,
        note: body.note ?? null,
      });
      res.status(created ? 201 : 200).json(pinView(pin));
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/models/{model}/pins/{consumer}',
    operationId: 'deletePin',
    summary: 'Remove a pin: its version is no longer kept for that consumer',
    access: 'admin',
    params: pinParams,
    responses: { 204: { description: 'removed' } },
    handle: async ({ params }, { res, deps }) => {
      await unpinVersion(deps.db, params.model, params.consumer);
      res.status(204).end();
    },
  }),
];
