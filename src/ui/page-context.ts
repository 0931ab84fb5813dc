import type { ApiDeps } from '../api/route.ts';
import type { Viewer } from './session.ts';

/** What every page is rendered with: the API's connections and caches, who looks, and when. */
export type PageContext = { deps: ApiDeps; viewer: Viewer; now: Date };

export const canAct = (viewer: Viewer) => viewer.scopes.includes('admin');
