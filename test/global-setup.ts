import { dropStaleDatabases } from './helpers/services.ts';

/** Runs once before the suite: clears databases that earlier failed runs kept for inspection. */
export default async function setup(): Promise<void> {
  await dropStaleDatabases();
}
