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
 * Threads whose last task succeeded, waiting for the next (unreferenced, so that they keep no
 * process alive). Reusing one spares a run a new backend's first read of the shared buffers (0.5 s
 * of CPU here) and the thread's start; a thread whose task failed or was stopped is not reused.
 */
const idle: Worker[] = [];

function startThread(): Worker {
  const thread = new Worker(threadEntry, { resourceLimits: HEAP_LIMITS });
  // a thread that fails or ends while idle is not handed another task
  thread.on('error', () => {});
  thread.once('exit', () => {
    const at = idle.indexOf(thread);
    if (at >= 0) idle.splice(at, 1);
  });
  return thread;
}

/**
 * Spills the newest source rows in a scoring thread (score-thread.ts): an idle one, else a new
 * one. An abort stops the thread at once (its connection goes with it) and rejects with the
 * signal's reason.
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
    const thread = idle.pop() ?? startThread();
    thread.ref();
    let settled = false;
    const settle = (outcome: () => void, reusable = false) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', stop);
      thread.off('message', onMessage);
      thread.off('error', onError);
      thread.off('exit', onExit);
      if (reusable) {
        thread.unref();
        idle.push(thread);
      } else {
        void thread.terminate();
      }
      outcome();
    };
    const stop = () => settle(() => reject(signal.reason));
    const onMessage = (message: ScoringMessage) => {
      if (message.kind === 'progress') onProgress(message.rows);
      else if (message.kind === 'done') settle(() => resolve(message.spilled), true);
      // Bad source data stays a permanent failure across the thread boundary.
      else if (message.name === 'SourceDataError') settle(() => reject(new SourceDataError(message.message)));
      // the SQLSTATE travels too: a data exception must stay permanent
      else settle(() => reject(Object.assign(new Error(message.message), { code: message.code })));
    };
    const onError = (error: Error) => settle(() => reject(error));
    const onExit = (code: number) =>
      settle(() => reject(new Error(`the scoring thread exited (code ${code}) before it finished`)));
    signal.addEventListener('abort', stop, { once: true });
    thread.on('message', onMessage);
    thread.on('error', onError);
    thread.on('exit', onExit);
    thread.postMessage(task);
  });
}

/** Ends the idle scoring threads and their connections: when their process's worker closes. */
export async function closeScoringThreads(): Promise<void> {
  await Promise.all(idle.splice(0).map((thread) => thread.terminate()));
}
