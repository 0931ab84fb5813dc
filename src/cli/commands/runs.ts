import type { Command } from 'commander';
import { z } from 'zod';
import { runView } from '../../api/views.ts';
import { listRunShards, type RunShard } from '../../db/run-shards.ts';
import { findRun, listRuns, type Run } from '../../db/runs.ts';
import { findVersionById } from '../../db/versions.ts';
import { UsageError } from '../../errors.ts';
import { formatTime } from '../../format.ts';
import { requestRefresh } from '../../runs/request.ts';
import { requireModel } from '../../versions/resolve.ts';
import { cliActor, limitOption, modelArgument } from '../arguments.ts';
import type { CliContext } from '../context.ts';
import { printHeld } from '../drift-text.ts';
import { ExitCode } from '../exit-code.ts';
import { parseOptions } from '../options.ts';
import { startProgress } from '../progress.ts';
import { formatTable } from '../table.ts';

const runOptions = z.object({
  MODEL: modelArgument,
  wait: z.boolean().optional(),
  forceInputs: z.boolean().optional(),
  timeout: z.coerce
    .number({ error: 'must be a number of seconds, more than 0' })
    .positive('must be a number of seconds, more than 0')
    .optional(),
});

export function registerRuns(program: Command, ctx: CliContext): void {
  program
    .command('run')
    .description('request a refresh of a model now (a worker runs it); --wait follows it to the end')
    .argument('<model>', 'model name')
    .option('--wait', 'wait for the run and show its progress; exit 0 published, 3 held, 1 failed')
    .option('--timeout <seconds>', 'with --wait: give up waiting after this long (default 3600)')
    .option(
      '--force-inputs',
      "go past failed input checks (the spec's `inputs`): score as usual; the lineage says the run was forced",
    )
    .action(async (model: string, raw: Record<string, unknown>) => {
      const options = parseOptions(runOptions, { MODEL: model, ...raw });
      // said before anything is queued: a timeout that would be ignored is a mistake in the command
      if (options.timeout !== undefined && !options.wait) {
        throw new UsageError('--timeout only applies with --wait');
      }
      const producer = await ctx.producer();
      const { run } = await requestRefresh(ctx.db(), producer.enqueueRefresh, {
        model: options.MODEL,
        trigger: cliActor(),
        forceInputs: options.forceInputs ?? false,
      });
      if (!options.wait) {
        ctx.print(`queued run ${run.id} (slot ${run.slot}); follow it with \`almanac runs ${run.model}\``);
        return;
      }
      ctx.exitCode = await follow(ctx, run, (options.timeout ?? 3600) * 1000);
    });

  program
    .command('runs')
    .description('list the runs of a model, newest first')
    .argument('<model>', 'model name')
    .option('--limit <n>', 'how many (default 20)')
    .option('--json', 'print JSON instead of a table')
    .action(async (model: string, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({ MODEL: modelArgument, limit: limitOption.optional(), json: z.boolean().optional() }),
        {
          MODEL: model,
          ...raw,
        },
      );
      const { spec } = await requireModel(ctx.db(), options.MODEL);
      const runs = await listRuns(ctx.db(), options.MODEL, { limit: options.limit ?? 20 });
      if (options.json) {
        // the API's own items (GET /v1/models/:model/runs)
        ctx.print(JSON.stringify(runs.map(runView), null, 2));
        return;
      }
      if (runs.length === 0) {
        // an external model is never run: its versions are imported
        ctx.print(
          spec.estimator === 'external'
            ? `no runs of ${options.MODEL}: an external model's versions come from \`almanac import ${options.MODEL} FILE\``
            : `no runs of ${options.MODEL} yet; start one with \`almanac run ${options.MODEL}\``,
        );
        return;
      }
      ctx.print(
        formatTable([
          ['RUN', 'SLOT', 'TRIGGER', 'STATE', 'PHASE', 'PROGRESS', 'VERSION', 'ATTEMPTS', 'CREATED', 'ERROR'],
          ...runs.map((r) => [
            r.id,
            r.slot,
            r.trigger,
            r.state,
            r.phase,
            `${Math.round(r.progress * 100)}%`,
            r.version === null ? '-' : `v${r.version}`,
            String(r.attempts),
            formatTime(r.createdAt),
            r.error ?? '',
          ]),
        ]),
      );
    });
}

/**
 * Polls the run with a progress bar through its phases; the exit code says how it ended. When no
 * worker is connected to the queue, says so at once, with how to start one, and keeps waiting
 * (a worker may be starting).
 */
export async function follow(ctx: CliContext, queued: Run, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const producer = await ctx.producer();
  const workers = await producer.queue.getWorkersCount().catch(() => undefined);
  if (workers === 0 && queued.state === 'queued') {
    ctx.io.stderr.write(
      `no worker is connected to the queue (prefix "${ctx.runtime().config.redisPrefix}"); start one with \`npx almanac worker\` — waiting for it\n`,
    );
  }
  const progress = startProgress(ctx.io, `run ${queued.model}`, '%');
  let run: Run | undefined = queued;
  try {
    while (run !== undefined && run.state !== 'succeeded' && run.state !== 'failed') {
      if (Date.now() > deadline) {
        progress.stop();
        ctx.io.stderr.write(
          `gave up waiting after ${timeoutMs / 1000} s; run ${queued.id} goes on: \`almanac runs ${queued.model}\`\n`,
        );
        return ExitCode.failure;
      }
      progress.update(Math.round(run.progress * 100), 100, await phaseDetail(ctx, run));
      await new Promise((resolve) => setTimeout(resolve, 250));
      run = await findRun(ctx.db(), queued.id);
    }
    if (run !== undefined) progress.update(Math.round(run.progress * 100), 100, await phaseDetail(ctx, run));
  } finally {
    progress.stop();
  }
  if (run === undefined) throw new Error(`run ${queued.id} disappeared`);
  if (run.state === 'failed') {
    ctx.io.stderr.write(`run ${run.id} failed: ${run.error ?? 'unknown error'}\n`);
    return ExitCode.failure;
  }
  const version = run.versionId === null ? undefined : await findVersionById(ctx.db(), run.versionId);
  if (version?.state === 'held') {
    printHeld(ctx, version);
    return ExitCode.held;
  }
  ctx.print(`published version ${version?.number ?? '?'} of ${run.model} (${version?.rowCount ?? 0} keys)`);
  return ExitCode.ok;
}

/**
 * The phase beside the bar; while a sharded run scores, each shard's state too (and, on a
 * terminal, the rows of those still running: off a terminal a line is printed at each change).
 */
async function phaseDetail(ctx: CliContext, run: Run): Promise<string> {
  if (run.phase !== 'scoring' || run.state !== 'running') return run.phase;
  const shards = await listRunShards(ctx.db(), run.id);
  if (shards.length === 0) return run.phase;
  return `${run.phase}, ${shardsText(shards, ctx.io.interactive)}`;
}

function shardsText(shards: readonly RunShard[], withRunningRows: boolean): string {
  const done = shards.filter((shard) => shard.state === 'succeeded').length;
  const each = shards.map((shard) => {
    const rows = `${shard.rows.toLocaleString('en-US')} rows`;
    if (shard.state === 'succeeded') return `s${shard.index} done ${rows} (${shard.worker ?? '?'})`;
    if (shard.state === 'running') return `s${shard.index} running${withRunningRows ? ` ${rows}` : ''}`;
    return `s${shard.index} ${shard.state}`;
  });
  return `shards ${done}/${shards.length} done: ${each.join(', ')}`;
}
