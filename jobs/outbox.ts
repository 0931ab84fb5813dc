import type { Logger } from 'pino';
import { pruneAlerts } from '../src/db/alert-outbox.ts';
import type { Db } from '../src/db/database.ts';
import { type AlertOptions, deliverDueAlerts } from '../src/drift/alerts.ts';
import { every } from './every.ts';

const KEEP_DAYS = 30;
const PRUNE_EVERY_MS = 3_600_000;

/**
 * Every worker delivers the outbox's due alerts now and then: the retries of alerts whose
 * webhook failed, and the alerts of processes that died before sending them. Delivered and
 * abandoned alerts are kept 30 days for inspection.
 */
export function startAlertDelivery(deps: {
  db: Db;
  logger: Logger;
  everyMs: number;
  alerts?: AlertOptions | undefined;
}): { close: () => Promise<void> } {
  const { db, logger } = deps;
  let prunedAt = 0;
  const deliver = async () => {
    await deliverDueAlerts(db, logger, deps.alerts);
    if (Date.now() - prunedAt > PRUNE_EVERY_MS) {
      prunedAt = Date.now();
      const pruned = await pruneAlerts(db, KEEP_DAYS);
      if (pruned > 0) logger.info({ pruned }, 'removed old alerts from the outbox');
    }
  };
  return every(deps.everyMs, deliver, logger, 'could not deliver alerts');
}
