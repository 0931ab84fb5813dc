import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SourceDataError } from '../errors.ts';
import type { Spilled } from './score.ts';
import type { ScoringMessage, ScoringTask } from './score-thread.ts';

/**
 * Scoring reads the source in a worker thread whose heap is capped. Streaming a million rows
 * makes plenty of short-lived garbage, and a process heap left to its own heuristics grows with
 * the volume before it collects; a small capped heap is collected early, so the worker's memory
 * stays flat in the number of keys. The main event loop stays free, too, for BullMQ's lock
 * renewals.
 */
const HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 };

/** The thread's entry beside this file: score-thread.ts in the sources, score-thread.js once compiled. */
const threadEntry = new URL(`./score-thread${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Spills the newest source rows in a worker thread (score-thread.ts). An abort stops the thread
 * at once (its connection goes with it) and rejects with the signal's reason.
 */
export function spillInThread(
  task: ScoringTask,
  onProgress: (rows: number) => void,
  signal: AbortSignal,
): Promise<Spilled> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const thread = new Worker(threadEntry, {
      workerData: task,
      resourceLimits: HEAP_LIMITS,
    });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (!settled) {
        settled = true;
        signal.removeEventListener('abort', stop);
        outcome();
      }
    };
    const stop = () => {
      settle(() => reject(signal.reason));
      void thread.terminate();
    };
    signal.addEventListener('abort', stop, { once: true });
    thread.on('message', (message: ScoringMessage) => {
      if (message.kind === 'progress') onProgress(message.rows);
      else if (message.kind === 'done') settle(() => resolve(message.spilled));
      // Bad source data stays a permanent failure across the thread boundary.
      else if (message.name === 'SourceDataError') settle(() => reject(new SourceDataError(message.message)));
      // the SQLSTATE travels too: a data exception must stay permanent
      else settle(() => reject(Object.assign(new Error(message.message), { code: message.code })));
    });
    thread.on('error', (error) => settle(() => reject(error)));
    thread.on('exit', (code) =>
      settle(() => reject(new Error(`the scoring thread exited (code ${code}) before it finished`))),
    );
  });
}
