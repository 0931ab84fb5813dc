import { listRuns, type Run } from '../../db/runs.ts';
import { requireModel } from '../../versions/resolve.ts';
import { duration, share, time } from '../format.ts';
import { type Html, html } from '../html.ts';
import { badge, framePage } from '../layout.ts';
import type { PageContext } from '../page-context.ts';

const RUNS_SHOWN = 10;
/** How often the runs reload themselves while one is active. */
export const WATCH_SECONDS = 3;
/** A run queued longer than this is waiting for a worker that is not there: stop watching it. */
const QUEUED_WATCH_MS = 15 * 60_000;

/**
 * `GET /models/:model/runs`: a model's newest runs, with phase and progress, on a page of their
 * own that the model page shows in a frame. While a run is active it reloads itself, with no
 * script, and the model page around it (its forms) stays as it is.
 */
export async function runsFrame(ctx: PageContext, name: string): Promise<string> {
  await requireModel(ctx.deps.db, name);
  const runs = await newestRuns(ctx, name);
  const watching = isWatching(runs, ctx.now);
  const body = html`${watching ? html`<p class="muted" role="status">A run is in progress: this list reloads every ${WATCH_SECONDS} s.</p>` : ''}
${runsTable(runs)}`;
  return framePage({
    title: `Runs of ${name}`,
    body,
    ...(watching ? { refreshSeconds: WATCH_SECONDS } : {}),
  });
}

export function newestRuns(ctx: PageContext, name: string): Promise<Run[]> {
  return listRuns(ctx.deps.db, name, { limit: RUNS_SHOWN });
}

/** Whether runs are worth watching: one running, or queued recently enough that a worker may take it. */
function isWatching(runs: readonly Run[], now: Date): boolean {
  return runs.some(
    (run) =>
      run.state === 'running' ||
      (run.state === 'queued' && now.getTime() - run.createdAt.getTime() < QUEUED_WATCH_MS),
  );
}

/**
 * The frame's height in pixels, for the page that shows it (without script a frame cannot size
 * itself to its content): its caption and header, a line a run, the status line while watching.
 */
export function runsFrameHeight(runs: readonly Run[], now: Date): number {
  if (runs.length === 0) return 48;
  return 60 + 37 * runs.length + (isWatching(runs, now) ? 40 : 0);
}

function runsTable(runs: readonly Run[]): Html {
  if (runs.length === 0) return html`<p class="muted">No runs yet.</p>`;
  return html`<table>
  <caption>The newest ${runs.length} runs</caption>
  <thead><tr><th>requested</th><th>by</th><th>state</th><th>phase</th><th>progress</th><th>version</th><th>took</th></tr></thead>
  <tbody>${runs.map((run) => {
    const took =
      run.startedAt !== null && run.finishedAt !== null
        ? run.finishedAt.getTime() - run.startedAt.getTime()
        : null;
    return html`<tr>
    <td>${time(run.createdAt)}</td>
    <td>${run.trigger}${run.forceInputs ? html`<br><span class="muted">input checks forced</span>` : ''}</td>
    <td>${badge(run.state)}${run.error === null ? '' : html`<br><span class="muted">${run.error}</span>`}</td>
    <td>${run.phase}</td>
    <td><progress max="1" value="${run.progress}" aria-label="progress of the run requested ${time(run.createdAt)}"></progress> ${share(run.progress)}</td>
    <td>${run.version === null ? '–' : `v${run.version}`}</td>
    <td>${duration(took)}</td>
  </tr>`;
  })}</tbody>
</table>`;
}
