import { z } from 'zod';
import { findModel, listModels, upsertModel } from '../../db/models.ts';
import { findPublishedVersion } from '../../db/versions.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { modelSpecSchema } from '../../model/spec.ts';
import { validateSpec } from '../../model/validate-spec.ts';
import { modelParam } from '../params.ts';
import { json, Model, ModelListItem } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { modelListItem, modelView } from '../views.ts';

export const modelRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models',
    operationId: 'listModels',
    summary: 'Models, each with its published version',
    access: 'read',
    responses: { 200: json(z.object({ items: z.array(ModelListItem) }), 'the models') },
    handle: async (_input, { res, deps }) => {
      res.json({ items: (await listModels(deps.db)).map(modelListItem) });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}',
    operationId: 'getModel',
    summary: 'A model: its spec and published version',
    access: 'read',
    params: modelParam,
    responses: { 200: json(Model, 'the model') },
    handle: async ({ params }, { res, deps }) => {
      const model = await findModel(deps.db, params.model);
      if (model === undefined) throw new NotFoundError(`model "${params.model}" does not exist`);
      res.json(modelView(model, await findPublishedVersion(deps.db, params.model)));
    },
  }),
  defineRoute({
    method: 'put',
    path: '/v1/models/{model}',
    operationId: 'putModel',
    summary: 'Create or update a model spec, validated in full against the database (every problem at once)',
    access: 'admin',
    params: modelParam,
    body: { type: 'application/json', schema: modelSpecSchema, required: true, checkedByHandler: true },
    responses: { 200: json(Model, 'updated'), 201: json(Model, 'created') },
    handle: async ({ params }, { req, res, deps }) => {
      const { model: name } = params;
      // modelSpecSchema, and the database, by validateSpec: every problem at once
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ValidationError([{ path: 'body', message: 'must be a model spec (a JSON object)' }]);
      }
      const input = { name, ...body };
      if (input.name !== name) {
        throw new ValidationError([
          { path: 'body.name', message: `must be "${name}", the model in the URL` },
        ]);
      }
      // its problems are named where they are in the request, as every route names them
      const spec = await validateSpec(deps.db, input, 'body');
      const { created } = await upsertModel(deps.db, spec);
      await deps.catalog.reload(name);
      const model = await findModel(deps.db, name);
      if (model === undefined) throw new NotFoundError(`model "${name}" vanished`);
      res.status(created ? 201 : 200).json(modelView(model, await findPublishedVersion(deps.db, name)));
    },
  }),
];
