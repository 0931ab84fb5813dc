import { randomUUID } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createDbOnClient, type Db, withClientTransaction } from '../db/database.ts';
import {
  attachPartition,
  createStandalonePartition,
  indexPartition,
  partitionChecksum,
  partitionName,
} from '../db/partitions.ts';
import { insertRun, setRunVersion } from '../db/runs.ts';
import {
  copyIntoStaging,
  createStaging,
  duplicateKeys,
  insertStagedRows,
  type StagedProblem,
} from '../db/staging.ts';
import { createVersion, setVersionResults } from '../db/versions.ts';
import type { AlertOptions } from '../drift/alerts.ts';
import { reportAgainstPublished } from '../drift/gate.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { parseInstant } from '../instant.ts';
import { keyProblem } from '../model/keys.ts';
import type { ModelSpec } from '../model/spec.ts';
import { packageVersion as codeVersion } from '../package-info.ts';
import { afterDecision, type Conclusion, decideInTransaction } from '../versions/conclude.ts';
import { requireModel } from '../versions/resolve.ts';
import { parseNumberField } from './field-checks.ts';

export const MAX_LISTED_PROBLEMS = 100;

/** A rejected file: up to 100 problems, each with its line (the header is line 1) and field. */
export class ImportRejectedError extends ValidationError {
  override name = 'ImportRejectedError';
  readonly problems: readonly StagedProblem[];
  readonly total: number;

  constructor(problems: StagedProblem[], total: number) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
    // the API's `errors`: each problem with its line and field, and a path naming both
    super(
      listed.map((p) => ({ path: `line ${p.line}${p.field === '' ? '' : `.${p.field}`}`, ...p })),
      { summary: `the CSV was rejected: ${total} problem(s)` },
    );
    this.problems = listed;
    this.total = total;
    // the CLI's lines: `line 3, key: duplicate key A (first on line 2)`
    this.message = listed
      .map((p) => `line ${p.line}${p.field === '' ? '' : `, ${p.field}`}: ${p.message}`)
      .join('\n');
    if (total > listed.length)
      this.message += `\n(${total} problems in all; the first ${listed.length} are listed)`;
  }
}

export type ImportOutcome = Pick<Conclusion, 'state' | 'version'>;

const COLUMNS = ['key', 'value', 'lower', 'upper', 'as_of'] as const;
const EXPECTED = 'key,value[,lower,upper][,as_of]';
const BATCH_CHARS = 64 * 1024;
type Column = (typeof COLUMNS)[number];

/**
 * Imports a CSV (`key,value[,lower,upper][,as_of]` with a header, in any order) as a new version
 * of an `external` model; `as_of`, the source time each estimate is for, lets realized accuracy
 * measure it once actuals arrive (a model with a `source`). The file is parsed in Node, streamed with line numbers into a staging table by COPY,
 * and checked in SQL; a file with any problem is rejected whole. A good file becomes a version
 * that is indexed, attached, gated and published (or held) like a computed one, all in one
 * transaction: nothing of a failed import is left behind.
 */
export async function importCsv(
  deps: { db: Db; pool: pg.Pool; logger: Logger; alerts?: AlertOptions },
  model: string,
  input: Readable,
  actor: string,
): Promise<ImportOutcome> {
  const spec = (await requireModel(deps.db, model)).spec;
  if (spec.estimator !== 'external') {
    throw new ConflictError(
      `model "${model}" is ${spec.estimator}: its versions are computed by \`almanac run\`, not imported`,
    );
  }
  const decision = await withClientTransaction(deps.pool, (client) =>
    importInTransaction(client, spec, input, actor),
  );
  await afterDecision(deps, spec, decision);
  return { state: decision.state, version: decision.version };
}

async function importInTransaction(
  client: pg.PoolClient,
  spec: ModelSpec,
  input: Readable,
  actor: string,
): Promise<Conclusion> {
  await createStaging(client);
  const parsing = new CsvToStaging();
  try {
    const parser = parse({ info: true, bom: true, relax_column_count: true, skip_empty_lines: true });
    await copyIntoStaging(client, input, parser, parsing);
  } catch (error) {
    // every parse error is csv-parse's CsvError; not all of their codes start with CSV_
    // (INVALID_OPENING_QUOTE does not)
    if (error instanceof CsvError) {
      throw new ImportRejectedError(
        [
          {
            line: typeof error.lines === 'number' ? error.lines : 0,
            field: '',
            message: `malformed CSV: ${error.message}`,
          },
        ],
        1,
      );
    }
    throw error;
  }
  if (parsing.header === undefined) {
    throw new ImportRejectedError(
      [{ line: 1, field: 'header', message: `the file is empty; expected a header ${EXPECTED}` }],
      1,
    );
  }
  const staged = await duplicateKeys(client, MAX_LISTED_PROBLEMS);
  const problems = [...parsing.problems, ...staged.problems].sort(
    (a, b) => a.line - b.line || a.field.localeCompare(b.field),
  );
  const total = parsing.problemCount + staged.total;
  if (total > 0) throw new ImportRejectedError(problems, total);
  if (parsing.rows === 0) {
    throw new ImportRejectedError([{ line: 2, field: '', message: 'the file has a header but no rows' }], 1);
  }

  const db = createDbOnClient(client);
  const runId = randomUUID();
  const slot = `import-${runId}`;
  await insertRun(db, { id: runId, model: spec.name, slot, trigger: actor, jobId: slot });
  const version = await createVersion(db, spec.name, {
    spec,
    estimator: 'external',
    trigger: actor,
    slot,
    runId,
    codeVersion,
  });
  await setRunVersion(db, runId, version.id);
  await createStandalonePartition(client, { versionId: version.id });
  await insertStagedRows(client, partitionName(version.id));
  await indexPartition(client, version.id);
  const { rowCount, checksum } = await partitionChecksum(client, version.id);
  await setVersionResults(db, version.id, { rowCount, checksum });
  // The report reads the new table before it is attached: attaching locks out every other
  // version's attach and detach until this transaction ends, so it comes as late as it can.
  const early = await reportAgainstPublished(db, version.id, spec.drift, { inTransaction: true });
  await attachPartition(client, version.id);

  return decideInTransaction(db, {
    spec,
    versionId: version.id,
    runId,
    actor,
    reason: 'import passed the drift gate',
    early,
    lineage: () => ({ import: { rows: parsing.rows, asOf: parsing.header?.includes('as_of') === true } }),
  });
}

/**
 * csv-parse records → COPY text lines for the staging table, with each record's first line. The
 * header, the field count and each field are checked here; duplicate keys, which need the whole
 * file, are checked in SQL on the staging table.
 */
class CsvToStaging extends Transform {
  header: Column[] | undefined;
  readonly problems: StagedProblem[] = [];
  problemCount = 0;
  /** the data rows staged (a row with problems too: the problems reject the file first) */
  rows = 0;
  private lastLine = 0;
  private lastEmpty = 0;
  private positions: Partial<Record<Column, number>> = {};
  private batch = '';

  constructor() {
    super({ writableObjectMode: true });
  }

  override _transform(
    chunk: { record: string[]; info: { lines: number; empty_lines: number } },
    _encoding: BufferEncoding,
    done: TransformCallback,
  ): void {
    const { record, info } = chunk;
    const line = this.lastLine + 1 + (info.empty_lines - this.lastEmpty);
    this.lastLine = info.lines;
    this.lastEmpty = info.empty_lines;
    if (this.header === undefined) {
      const problem = this.readHeader(record);
      if (problem !== undefined) {
        done(new ImportRejectedError([{ line, field: 'header', message: problem }], 1));
        return;
      }
      done();
      return;
    }
    if (record.length !== this.header.length) {
      this.problem({
        line,
        field: '',
        message: `expected ${this.header.length} fields (${this.header.join(',')}), got ${record.length}`,
      });
      done();
      return;
    }
    const at = (column: Column) => {
      const position = this.positions[column];
      return position === undefined ? undefined : (record[position] ?? '');
    };
    const key = at('key') ?? '';
    const keyIssue = keyProblem(key);
    if (keyIssue !== undefined) this.problem({ line, field: 'key', message: keyIssue });
    const number = (column: 'value' | 'lower' | 'upper') => {
      const text = at(column);
      // lower and upper may be left empty; value may not
      if (text === undefined || (column !== 'value' && text.trim() === '')) return '\\N';
      const parsed = parseNumberField(text);
      if ('value' in parsed) return String(parsed.value);
      this.problem({ line, field: column, message: parsed.problem });
      return '\\N';
    };
    const value = number('value');
    const lower = number('lower');
    const upper = number('upper');
    // an interval that ends before it starts is no interval (a computed one never is: its ends
    // are the 5th and 95th percentiles of the same residuals)
    if (lower !== '\\N' && upper !== '\\N' && Number(lower) > Number(upper)) {
      this.problem({ line, field: 'upper', message: `below lower: ${upper} < ${lower}` });
    }
    // as_of may be left empty: the estimate then has no source time to be measured against
    const asOfText = at('as_of');
    let asOf = '\\N';
    if (asOfText !== undefined && asOfText.trim() !== '') {
      const parsed = parseInstant(asOfText);
      if ('value' in parsed) asOf = parsed.value;
      else this.problem({ line, field: 'as_of', message: parsed.problem });
    }
    // Lines go out in batches: one COPY message per row would cost a socket write per row.
    // A key with a problem is staged as null: it cannot be a duplicate, and bytes such as NUL
    // must not reach COPY.
    const stagedKey = keyIssue === undefined ? escapeCopy(key) : '\\N';
    this.batch += `${line}\t${stagedKey}\t${value}\t${lower}\t${upper}\t${asOf}\n`;
    this.rows += 1;
    if (this.batch.length < BATCH_CHARS) {
      done();
      return;
    }
    const batch = this.batch;
    this.batch = '';
    done(null, batch);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.batch.length > 0 ? this.batch : undefined);
  }

  private readHeader(record: string[]): string | undefined {
    const names = record.map((name) => name.trim().toLowerCase());
    const unknown = names.filter((name) => !(COLUMNS as readonly string[]).includes(name));
    if (unknown.length > 0)
      return `unknown column ${unknown.map((n) => `"${n}"`).join(', ')}; expected ${EXPECTED}`;
    if (new Set(names).size !== names.length) return 'a column is named twice';
    if (!names.includes('key') || !names.includes('value'))
      return `the header must name key and value (${EXPECTED})`;
    this.header = names as Column[];
    this.positions = Object.fromEntries(this.header.map((name, i) => [name, i]));
    return undefined;
  }

  private problem(problem: StagedProblem): void {
    this.problemCount += 1;
    if (this.problems.length < MAX_LISTED_PROBLEMS) this.problems.push(problem);
  }
}

/** COPY text format: backslash, tab, newline and carriage return are escaped. */
function escapeCopy(value: string): string {
  return /[\\\t\n\r]/.test(value)
    ? value.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r')
    : value;
}

/** For callers holding a string or Buffer rather than a stream. */
export function readableOf(content: string | Buffer): Readable {
  return Readable.from([content]);
}
