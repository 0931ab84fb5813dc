import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express, Response } from 'express';

/**
 * The API reference page at /docs: Swagger UI, served from the installed swagger-ui-dist package
 * (no CDN), rendering /openapi.json. The page needs no inline script or style, so its CSP allows
 * only this server (and `data:` images, Swagger UI's icons).
 */

const ASSETS = path.dirname(fileURLToPath(import.meta.resolve('swagger-ui-dist/package.json')));
/** The package also holds a demo page pointing at petstore.swagger.io: only these files are served. */
const SERVED = new Set(['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'favicon-16x16.png']);

export const DOCS_CSP =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Almanac API reference</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  displayOperationId: true,
  defaultModelsExpandDepth: 1,
});
`;

const withPolicy = (res: Response) =>
  res.set({ 'Content-Security-Policy': DOCS_CSP, 'Cache-Control': 'public, max-age=3600' });

/** The page's scripts and styles (the page itself is a route: src/api/routes/health.ts). */
export function mountDocsAssets(app: Express): void {
  app.get('/docs/init.js', (_req, res) => {
    withPolicy(res).type('application/javascript').send(INIT);
  });
  app.get('/docs/assets/:file', (req, res, next) => {
    const file = req.params.file;
    if (typeof file !== 'string' || !SERVED.has(file)) {
      next();
      return;
    }
    withPolicy(res).sendFile(file, { root: ASSETS });
  });
}
