/**
 * PostgreSQL's binary COPY format (the COPY page of its manual, "Binary Format"), as far as
 * scoring needs it: a header, tuples of length-prefixed fields, a trailer. Written by hand rather
 * than with a library: the scorer handles a million tuples in place as bytes, and the object-per-row
 * parsers on npm would be its slowest part.
 */

/** `PGCOPY\n\377\r\n\0`, then flags (int32) and the length of a header extension (int32). */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const FIXED_HEADER_BYTES = SIGNATURE.length + 8;

/** The header a writer starts with: no OIDs, no extension. */
export const COPY_BINARY_HEADER = Buffer.concat([SIGNATURE, Buffer.alloc(8)]);
/** The trailer: a field count of −1. */
export const COPY_BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/**
 * Where the tuples start in a stream's first bytes: after the header and its extension; −1 while
 * the header is incomplete. A stream that does not start with the signature is not COPY binary.
 */
export function tuplesStart(input: Buffer): number {
  if (input.length < FIXED_HEADER_BYTES) return -1;
  if (!input.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new Error('the stream is not in the binary COPY format');
  }
  const start = FIXED_HEADER_BYTES + input.readInt32BE(SIGNATURE.length + 4);
  return input.length < start ? -1 : start;
}

/**
 * The end of the tuple (or of the trailer) that starts at `at`, or −1 when `input` holds only
 * part of it.
 */
export function tupleEnd(input: Buffer, at: number): number {
  return tupleEndIn(new DataView(input.buffer, input.byteOffset, input.length), at);
}

function tupleEndIn(view: DataView, at: number): number {
  const length = view.byteLength;
  if (at + 2 > length) return -1;
  const fields = view.getInt16(at);
  let end = at + 2;
  for (let field = 0; field < fields; field += 1) {
    if (end + 4 > length) return -1;
    end += 4 + Math.max(view.getInt32(end), 0);
  }
  return end <= length ? end : -1;
}

/**
 * The start of every tuple in `chunk`, a piece of a binary COPY stream that holds whole tuples
 * only (TupleWriter's pieces): after the header in the stream's first piece, up to the trailer in
 * its last. `starts` is filled (and reused, so reading a million tuples allocates nothing); a
 * piece that is anything else throws.
 */
export function tupleStarts(chunk: Buffer, piece: { first: boolean; last: boolean }, starts: number[]): void {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
  starts.length = 0;
  let at = piece.first ? tuplesStart(chunk) : 0;
  while (at >= 0 && at + 2 <= chunk.length && view.getInt16(at) !== -1) {
    starts.push(at);
    at = tupleEndIn(view, at);
  }
  const whole = piece.last
    ? at >= 0 && at + 2 === chunk.length && view.getInt16(at) === -1
    : at === chunk.length;
  if (!whole) throw new Error('the spill file does not hold the tuples it was written with');
}

/** Microseconds from 1970 to 2000-01-01, where Postgres counts its timestamps from. */
const POSTGRES_EPOCH_MICROS = 946_684_800_000_000n;

/**
 * A binary timestamptz as the source column's type writes it in a UTC session (`2026-01-02`,
 * `2026-01-02 10:00:00`, `2026-01-02 10:00:00+00`): what an error message names.
 */
export function sourceTimeText(input: Buffer, at: number, timeType: string): string {
  const micros = input.readBigInt64BE(at) + POSTGRES_EPOCH_MICROS;
  const fraction = Number(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const iso = new Date(Number((micros - BigInt(fraction)) / 1000n)).toISOString();
  if (timeType === 'date') return iso.slice(0, 10);
  const seconds = fraction === 0 ? '' : `.${String(fraction).padStart(6, '0').replace(/0+$/, '')}`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${seconds}${timeType.includes('with time zone') ? '+00' : ''}`;
}

/**
 * Reads a binary COPY stream however its bytes are cut into chunks: every whole tuple goes to
 * `onTuple` as the buffer that holds it, where it starts, and a big-endian view of the same bytes
 * (DataView reads a float8 several times faster than Buffer's readDoubleBE); the tuple is handled
 * in place. Only a tuple cut by a chunk's end is copied, joined with the head of the next chunk.
 */
export class TupleReader {
  private pending: Buffer | undefined;
  private started = false;
  private ended = false;
  private readonly onTuple: (input: Buffer, start: number, view: DataView) => void;

  constructor(onTuple: (input: Buffer, start: number, view: DataView) => void) {
    this.onTuple = onTuple;
  }

  read(chunk: Buffer): void {
    if (this.ended) {
      // whatever follows the trailer makes the stream not whole
      if (chunk.length > 0) this.pending = Buffer.concat([this.pending ?? Buffer.alloc(0), chunk]);
      return;
    }
    let input = chunk;
    let start = 0;
    if (this.pending !== undefined) {
      const joined = this.joinPending(chunk);
      if (joined === undefined) return;
      input = joined.input;
      start = joined.start;
    }
    if (!this.started) {
      start = tuplesStart(input);
      if (start < 0) {
        this.pending = Buffer.from(input);
        return;
      }
      this.started = true;
    }
    this.readWhole(input, start);
  }

  /**
   * The pending bytes completed from the head of `chunk`: the first tuple (or header) whole, then
   * the rest of the chunk read in place; undefined while the chunk still does not complete it.
   */
  private joinPending(chunk: Buffer): { input: Buffer; start: number } | undefined {
    const pending = this.pending as Buffer;
    for (
      let take = Math.min(chunk.length, 2 * pending.length + 256);
      ;
      take = Math.min(chunk.length, 2 * take)
    ) {
      const head = Buffer.concat([pending, chunk.subarray(0, take)]);
      const end = this.started ? tupleEnd(head, 0) : tuplesStart(head);
      if (end >= 0) {
        this.pending = undefined;
        if (!this.started) {
          // the header is done: the tuples start in the chunk, where the header's bytes end
          this.started = true;
          return { input: chunk, start: end - pending.length };
        }
        this.readWhole(head.subarray(0, end), 0);
        return { input: chunk, start: end - pending.length };
      }
      if (take === chunk.length) {
        this.pending = head;
        return undefined;
      }
    }
  }

  private readWhole(input: Buffer, from: number): void {
    const view = new DataView(input.buffer, input.byteOffset, input.length);
    let start = from;
    for (let end = tupleEndIn(view, start); end >= 0 && !this.ended; end = tupleEndIn(view, start)) {
      if (view.getInt16(start) === -1) this.ended = true;
      else this.onTuple(input, start, view);
      start = end;
    }
    if (this.ended) {
      // bytes after the trailer make the stream not whole
      this.pending = start < input.length ? Buffer.from(input.subarray(start)) : undefined;
      return;
    }
    // a copy: the rest of the chunk must not keep the whole chunk alive
    if (start < input.length) this.pending = Buffer.from(input.subarray(start));
  }

  /** Whether the stream ended with its trailer and nothing after it. */
  get whole(): boolean {
    return this.ended && this.pending === undefined;
  }
}

const OUT_CHUNK = 64 * 1024;
const FLOAT8_BYTES = 8;
/** Fields shorter than this are copied byte by byte: the call into Buffer.copy costs more. */
const SHORT_COPY = 48;

/**
 * Writes a binary COPY stream into 64 KiB buffers, each holding whole tuples: the header first,
 * the trailer at `end`; `take` hands over the buffers filled so far.
 */
export class TupleWriter {
  private out = Buffer.allocUnsafe(OUT_CHUNK);
  private view = new DataView(this.out.buffer, this.out.byteOffset, this.out.length);
  private at = COPY_BINARY_HEADER.copy(this.out, 0);
  private readonly ready: Buffer[] = [];

  /** Starts a tuple of `fields` fields, `bytes` long in all (the field count included). */
  tuple(fields: number, bytes: number): void {
    if (this.at + bytes > this.out.length) {
      if (this.at > 0) this.ready.push(this.out.subarray(0, this.at));
      this.out = Buffer.allocUnsafe(Math.max(OUT_CHUNK, bytes));
      this.view = new DataView(this.out.buffer, this.out.byteOffset, this.out.length);
      this.at = 0;
    }
    this.view.setInt16(this.at, fields);
    this.at += 2;
  }

  float8(value: number): void {
    this.view.setInt32(this.at, FLOAT8_BYTES);
    this.view.setFloat64(this.at + 4, value);
    this.at += 4 + FLOAT8_BYTES;
  }

  /** Fields copied as they came (their lengths included) from input[start, end). */
  copy(input: Buffer, start: number, end: number): void {
    if (end - start < SHORT_COPY) {
      const out = this.out;
      let at = this.at;
      for (let i = start; i < end; i += 1) out[at++] = input[i] as number;
      this.at = at;
    } else {
      this.at += input.copy(this.out, this.at, start, end);
    }
  }

  take(): Buffer[] {
    return this.ready.splice(0);
  }

  end(): Buffer[] {
    this.tuple(-1, COPY_BINARY_TRAILER.length);
    const last = this.out.subarray(0, this.at);
    return [...this.take(), last];
  }
}
