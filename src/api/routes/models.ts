import { Router } from 'express';
import type { Db } from '../../db/database.ts';
import { findModel, listModels, upsertModel } from '../../db/models.ts';
import { findPublishedVersion } from '../../db/versions.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { validateSpec } from '../../model/validate-spec.ts';
import { requireScope } from '../auth.ts';
import type { Catalog } from '../catalog.ts';
import { modelParam } from '../params.ts';
import { requireJson } from '../require-json.ts';
import { parseRequest } from '../validate.ts';
import { modelView } from '../views.ts';

export function modelsRouter(deps: { db: Db; catalog: Catalog }): Router {
  const router = Router();

  router.get('/v1/models', requireScope('read'), async (_req, res) => {
    const models = await listModels(deps.db);
    res.json({
      items: models.map((model) => ({
        name: model.name,
        description: model.spec.description,
        estimator: model.spec.estimator,
        publishedVersion: model.publishedVersion,
        schedule: model.spec.schedule,
        updatedAt: model.updatedAt.toISOString(),
      })),
    });
  });

  router.get('/v1/models/:model', requireScope('read'), async (req, res) => {
    const { model: name } = parseRequest(modelParam, req.params, 'params');
    const model = await findModel(deps.db, name);
    if (model === undefined) throw new NotFoundError(`model "${name}" does not exist`);
    res.json(modelView(model, await findPublishedVersion(deps.db, name)));
  });

  router.put('/v1/models/:model', requireScope('admin'), requireJson, async (req, res) => {
    const { model: name } = parseRequest(modelParam, req.params, 'params');
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ValidationError([{ path: 'body', message: 'must be a model spec (a JSON object)' }]);
    }
    const input = { name, ...body } as Record<string, unknown>;
    if (input.name !== name) {
      throw new ValidationError([{ path: 'body.name', message: `must be "${name}", the model in the URL` }]);
    }
    const spec = await validateSpec(deps.db, input);
    const { created } = await upsertModel(deps.db, spec);
    await deps.catalog.reload(name);
    const model = await findModel(deps.db, name);
    if (model === undefined) throw new NotFoundError(`model "${name}" vanished`);
    res.status(created ? 201 : 200).json(modelView(model, await findPublishedVersion(deps.db, name)));
  });

  return router;
}
