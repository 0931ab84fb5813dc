import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { listModels, upsertModel } from '../../db/models.ts';
import { type FieldIssue, ValidationError } from '../../errors.ts';
import type { ModelSpec } from '../../model/spec.ts';
import { validateSpec } from '../../model/validate-spec.ts';
import type { CliContext } from '../context.ts';
import { formatTable } from '../table.ts';

export function registerModels(program: Command, ctx: CliContext): void {
  const models = program.command('models').description('manage model specs');

  models
    .command('apply')
    .description('validate model spec files (JSON) in full against the database and store them; all or none')
    .argument('<file...>', 'spec files')
    .action((files: string[]) => applySpecFiles(ctx, files));

  models
    .command('list')
    .description('list models with their estimator, schedule and published version')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }) => {
      const all = await listModels(ctx.db());
      if (options.json) {
        ctx.print(
          JSON.stringify(
            all.map(({ spec, ...model }) => ({ ...model, spec })),
            null,
            2,
          ),
        );
        return;
      }
      if (all.length === 0) {
        ctx.print('no models yet; add one with `almanac models apply FILE`');
        return;
      }
      ctx.print(
        formatTable([
          ['NAME', 'ESTIMATOR', 'SCHEDULE', 'PUBLISHED', 'DESCRIPTION'],
          ...all.map((m) => [
            m.name,
            m.spec.estimator,
            m.spec.estimator === 'external'
              ? 'imported'
              : `${m.spec.schedule.cron} ${m.spec.schedule.timezone}${m.spec.schedule.paused ? ' (paused)' : ''}`,
            m.publishedVersion === null ? '-' : `v${m.publishedVersion}`,
            m.spec.description,
          ]),
        ]),
      );
    });
}

/** Validates every file, then stores them all in one transaction, or none when any is invalid. */
export async function applySpecFiles(ctx: CliContext, files: string[]): Promise<void> {
  const specs = await validateFiles(ctx, files);
  const outcomes = await ctx
    .db()
    .transaction()
    .execute(async (trx) => {
      const done = [];
      for (const spec of specs) done.push({ spec, ...(await upsertModel(trx, spec)) });
      return done;
    });
  for (const { spec, created } of outcomes) {
    ctx.print(`${created ? 'created' : 'updated'} model ${spec.name} (${spec.estimator})`);
  }
}

/** Every problem of every file, each path prefixed with its file when there are several. */
async function validateFiles(ctx: CliContext, files: string[]): Promise<ModelSpec[]> {
  const specs: ModelSpec[] = [];
  const issues: FieldIssue[] = [];
  // an issue of the whole spec (a JSON array, say) has no path of its own: the file names it
  const prefix = (file: string, path: string) =>
    files.length > 1 || path === '' ? [file, path].filter((part) => part !== '').join(': ') : path;
  for (const file of files) {
    let input: unknown;
    try {
      input = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      const reason =
        error instanceof SyntaxError
          ? `is not valid JSON (${error.message})`
          : `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
      issues.push({ path: file, message: reason });
      continue;
    }
    try {
      specs.push(await validateSpec(ctx.db(), input));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(
        ...error.issues.map((issue) => ({ path: prefix(file, issue.path), message: issue.message })),
      );
    }
  }
  const names = specs.map((spec) => spec.name);
  const repeated = names.filter((name, i) => names.indexOf(name) !== i);
  for (const name of new Set(repeated))
    issues.push({ path: 'name', message: `"${name}" is given by more than one file` });
  if (issues.length > 0) throw new ValidationError(issues);
  return specs;
}
