import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  COPY_BINARY_HEADER,
  COPY_BINARY_TRAILER,
  sourceTimeText,
  tupleEnd,
} from '../src/pipeline/copy-binary.ts';
import { withInterval } from '../src/pipeline/score.ts';

/** A tuple as scoreNewestRows writes it: key, then value three times, then an 8-byte time. */
function scoredTuple(key: string, value: number, time: bigint): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const tuple = Buffer.alloc(2 + 4 + keyBytes.length + 4 * 12);
  let at = tuple.writeInt16BE(5, 0);
  at = tuple.writeInt32BE(keyBytes.length, at);
  at += keyBytes.copy(tuple, at);
  for (let i = 0; i < 3; i += 1) {
    at = tuple.writeInt32BE(8, at);
    at = tuple.writeDoubleBE(value, at);
  }
  at = tuple.writeInt32BE(8, at);
  tuple.writeBigInt64BE(time, at);
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
  const stream = Buffer.concat([
    COPY_BINARY_HEADER,
    scoredTuple('AAPL', 101.5, 0n),
    scoredTuple('ключ', -3.25, 86_400_000_000n),
    scoredTuple('x'.repeat(256), 0.1, 1n),
    COPY_BINARY_TRAILER,
  ]);
  const interval = { lower: -0.7, upper: 1.3 };

  it('gets each estimate its interval, the same doubles as value + bound, however the bytes are cut', async () => {
    const whole = await buffer(Readable.from([Buffer.from(stream)]).pipe(withInterval(interval)));
    const bytes = [...Buffer.from(stream)].map((byte) => Buffer.from([byte]));
    const byByte = await buffer(Readable.from(bytes).pipe(withInterval(interval)));
    expect(byByte.equals(whole)).toBe(true);
    expect(whole.length).toBe(stream.length);
    expect(readTuples(whole)).toEqual([
      ['AAPL', 101.5, 101.5 - 0.7, 101.5 + 1.3],
      ['ключ', -3.25, -3.25 - 0.7, -3.25 + 1.3],
      ['x'.repeat(256), 0.1, 0.1 - 0.7, 0.1 + 1.3],
    ]);
    expect(whole.subarray(-2).equals(COPY_BINARY_TRAILER)).toBe(true);
  });

  it('names a source time as the source column writes it', () => {
    const time = Buffer.alloc(8);
    time.writeBigInt64BE(110n * 86_400_000_000n + 36_000_000_000n + 500_000n);
    expect(sourceTimeText(time, 0, 'date')).toBe('2000-04-20');
    expect(sourceTimeText(time, 0, 'timestamp without time zone')).toBe('2000-04-20 10:00:00.5');
    expect(sourceTimeText(time, 0, 'timestamp with time zone')).toBe('2000-04-20 10:00:00.5+00');
  });
});
