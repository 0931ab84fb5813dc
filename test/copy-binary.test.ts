import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { naive } from '../src/model/estimators/naive.ts';
import {
  COPY_BINARY_HEADER,
  COPY_BINARY_TRAILER,
  sourceTimeText,
  TupleReader,
  tupleEnd,
} from '../src/pipeline/copy-binary.ts';
import { type ScoringCounts, scoreSpilled } from '../src/pipeline/score.ts';

/** A tuple as spillNewestRows writes it: key, an 8-byte time, then the features as float8. */
function spilledTuple(key: string, time: bigint, features: number[]): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const tuple = Buffer.alloc(2 + 4 + keyBytes.length + 12 + 12 * features.length);
  let at = tuple.writeInt16BE(2 + features.length, 0);
  at = tuple.writeInt32BE(keyBytes.length, at);
  at += keyBytes.copy(tuple, at);
  at = tuple.writeInt32BE(8, at);
  at = tuple.writeBigInt64BE(time, at);
  for (const feature of features) {
    at = tuple.writeInt32BE(8, at);
    at = tuple.writeDoubleBE(feature, at);
  }
  return tuple;
}

/** Every tuple's (key, value, lower, upper) after the header. */
function readTuples(stream: Buffer): [string, number, number, number][] {
  const rows: [string, number, number, number][] = [];
  let at = COPY_BINARY_HEADER.length;
  for (
    let end = tupleEnd(stream, at);
    end >= 0 && stream.readInt16BE(at) !== -1;
    end = tupleEnd(stream, at)
  ) {
    const keyLength = stream.readInt32BE(at + 2);
    const key = stream.toString('utf8', at + 6, at + 6 + keyLength);
    const value = at + 6 + keyLength + 4;
    rows.push([
      key,
      stream.readDoubleBE(value),
      stream.readDoubleBE(value + 12),
      stream.readDoubleBE(value + 24),
    ]);
    at = end;
  }
  return rows;
}

describe('the binary COPY stream of scored keys', () => {
  // as spillNewestRows writes them: keys descending, in pieces of whole tuples
  const pieces = [
    Buffer.concat([
      COPY_BINARY_HEADER,
      spilledTuple('ключ', 86_400_000_000n, [7, -3.25]),
      spilledTuple('x'.repeat(256), 1n, [7, 0.1]),
    ]),
    spilledTuple('too-big', 1n, [7, Number.POSITIVE_INFINITY]),
    Buffer.concat([spilledTuple('AAPL', 0n, [7, 101.5]), COPY_BINARY_TRAILER]),
  ];
  const stream = Buffer.concat(pieces);
  const artifact = {
    ...naive.fit({
      params: { feature: 'b' },
      features: ['a', 'b'],
      stats: { n: 0, featureMeans: [], featureCov: [], targetMean: 0, featureTargetCov: [] },
    }),
    interval: { lower: -0.7, upper: 1.3 },
  };
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'almanac-copy-binary-'));
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  /** The spill written to a file, scored with the piece lengths given. */
  const scored = async (lengths: number[], bytes = stream) => {
    const file = path.join(folder, 'spill.copy');
    await writeFile(file, bytes);
    const counts: ScoringCounts = { rows: 4, skippedRows: 1, skippedKeys: 2 };
    const out = await buffer(scoreSpilled(naive, artifact, { path: file, pieces: lengths, counts }));
    return { out, counts };
  };

  /** The keys a TupleReader passes on, and whether it saw the stream whole, from these chunks. */
  const readKeys = (chunks: Buffer[]) => {
    const keys: string[] = [];
    const reader = new TupleReader((input, start, view) => {
      keys.push(input.toString('utf8', start + 6, start + 6 + view.getInt32(start + 2)));
    });
    for (const chunk of chunks) reader.read(chunk);
    return { keys, whole: reader.whole };
  };

  it('scores each key with its interval, the same doubles as value + bound, keys ascending', async () => {
    const { out, counts } = await scored(pieces.map((piece) => piece.length));
    expect(readTuples(out)).toEqual([
      ['AAPL', 101.5, 101.5 - 0.7, 101.5 + 1.3],
      ['x'.repeat(256), 0.1, 0.1 - 0.7, 0.1 + 1.3],
      ['ключ', -3.25, -3.25 - 0.7, -3.25 + 1.3],
    ]);
    // the time travels as it came, after the three doubles
    const second = tupleEnd(out, COPY_BINARY_HEADER.length);
    expect(out.readBigInt64BE(tupleEnd(out, second) - 8)).toBe(1n);
    expect(out.readBigInt64BE(tupleEnd(out, tupleEnd(out, second)) - 8)).toBe(86_400_000_000n);
    expect(out.subarray(-2).equals(COPY_BINARY_TRAILER)).toBe(true);
    // a prediction that is not finite leaves its key out, counted
    expect(counts).toEqual({ rows: 3, skippedRows: 2, skippedKeys: 2 });
    // one piece holding everything scores the same
    expect((await scored([stream.length])).out.equals(out)).toBe(true);
  });

  it('refuses a spill whose pieces are not the ones it was written in, or that is cut short', async () => {
    const [a = 0, b = 0, c = 0] = pieces.map((piece) => piece.length);
    await expect(scored([a + 3, b - 3, c])).rejects.toThrow(/does not hold the tuples/);
    await expect(scored([a - 1, b + 1, c])).rejects.toThrow(/does not hold the tuples/);
    await expect(scored([a, b, c], stream.subarray(0, stream.length - 5))).rejects.toThrow(
      /middle of its COPY data/,
    );
  });

  it('reads the same tuples from chunks of any size, cut inside the header or inside a tuple', () => {
    const whole = readKeys([stream]);
    expect(whole).toEqual({ keys: ['ключ', 'x'.repeat(256), 'too-big', 'AAPL'], whole: true });
    for (const size of [1, 3, 7, 19, 20, 64, 333]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size)
        chunks.push(Buffer.from(stream.subarray(at, at + size)));
      expect(readKeys(chunks), `chunks of ${size} bytes`).toEqual(whole);
    }
  });

  it('sees a stream with bytes after its trailer, or cut short, as not whole', () => {
    const trailing = Buffer.concat([stream, Buffer.from([0, 1])]);
    expect(readKeys([trailing.subarray(0, 40), trailing.subarray(40)]).whole).toBe(false);
    expect(readKeys([stream.subarray(0, stream.length - 5)]).whole).toBe(false);
    // bytes after the trailer that read as a tuple cut across two chunks, the second used up
    const after = Buffer.concat([stream, Buffer.from([0, 1, 0, 0, 0])]);
    expect(readKeys([after, Buffer.from([0])]).whole).toBe(false);
  });

  it('names a source time as the source column writes it', () => {
    const time = Buffer.alloc(8);
    time.writeBigInt64BE(110n * 86_400_000_000n + 36_000_000_000n + 500_000n);
    expect(sourceTimeText(time, 0, 'date')).toBe('2000-04-20');
    expect(sourceTimeText(time, 0, 'timestamp without time zone')).toBe('2000-04-20 10:00:00.5');
    expect(sourceTimeText(time, 0, 'timestamp with time zone')).toBe('2000-04-20 10:00:00.5+00');
  });
});

describe('the scoring thread', () => {
  it('loads neither kysely nor zod: every thread a run or shard starts compiles what it imports', () => {
    const entry = new URL('../dist/src/pipeline/score-thread.js', import.meta.url).href;
    // the compiled thread (the suite's global setup builds it), its imports resolved and listed;
    // run outside a worker thread it fails at once, after its imports have been resolved
    const script = `
      import { registerHooks } from 'node:module';
      const packages = new Set();
      registerHooks({ resolve(specifier, context, next) {
        const found = next(specifier, context);
        const at = found.url.lastIndexOf('/node_modules/');
        if (at >= 0) packages.add(found.url.slice(at + 14).split('/')[0]);
        return found;
      } });
      await import(${JSON.stringify(entry)}).catch(() => {});
      console.log(JSON.stringify([...packages]));`;
    const loaded = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    ) as string[];
    expect(loaded).toContain('pg-copy-streams');
    expect(loaded).not.toContain('kysely');
    expect(loaded).not.toContain('zod');
  });
});
