import type { Route } from './route.ts';
import { accuracyRoutes } from './routes/accuracy.ts';
import { driftRoutes } from './routes/drift.ts';
import { estimateRoutes } from './routes/estimates.ts';
import { healthRoutes } from './routes/health.ts';
import { historyRoutes } from './routes/history.ts';
import { modelRoutes } from './routes/models.ts';
import { pinRoutes } from './routes/pins.ts';
import { runRoutes } from './routes/runs.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { versionRoutes } from './routes/versions.ts';

/** Every route of the API, in the order the document lists them. */
export const routes: readonly Route[] = [
  ...modelRoutes,
  ...versionRoutes,
  ...estimateRoutes,
  ...snapshotRoutes,
  ...driftRoutes,
  ...historyRoutes,
  ...pinRoutes,
  ...accuracyRoutes,
  ...runRoutes,
  ...healthRoutes,
];
