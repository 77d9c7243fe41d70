/**
 * Tunnel output, read with bounded memory. A tunnel is any program (an `exec` service can be
 * anything), so its output is untrusted: an endless line, a 10 MB line or a binary flood must cost
 * LocalPort a fixed amount of memory. readline, used before, buffers a line until it ends and throws
 * `RangeError: Invalid string length` past V8's string limit (after growing by about a gigabyte).
 */

import { printable } from '../printable.js';

/** The longest line kept; the rest of a longer line is cut and counted. */
export const MAX_LINE_BYTES = 8 * 1024;

export interface LineHandler {
  /**
   * A complete line, or the first MAX_LINE_BYTES of a longer one (`cut` is then true, the rest still to come),
   * made printable: control characters are shown as `\u001b`, so the tail, the error messages built from it and
   * the service log never carry a tunnel's terminal escapes to the user's terminal.
   */
  line(text: string, cut: boolean): void;
  /** A cut line ended: `bytes` more bytes of it were dropped. */
  cutEnded(bytes: number): void;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines at `\n`, `\r\n` or a lone `\r` (as readline did: progress bars
 * redraw with `\r`). Holds at most `max` bytes of a pending line.
 */
export class LineSplitter {
  #parts: Buffer[] = [];
  #length = 0;
  /** Bytes dropped from the current line; -1 while the line has not been cut. */
  #dropped = -1;
  /** The previous chunk ended with `\r`: a `\n` starting this one belongs to it. */
  #afterCr = false;
  /** After #skip(): drop bytes up to the next line break. */
  #resync = false;

  constructor(
    private readonly handler: LineHandler,
    private readonly max = MAX_LINE_BYTES,
    /** Checked before each chunk and after each line: over budget, the rest of the chunk is dropped unread. */
    private readonly budget?: OutputBudget,
  ) {}

  push(chunk: Buffer): void {
    if (this.#overBudget(chunk, 0)) return;
    let i = 0;
    if (this.#afterCr && chunk.length > 0) {
      this.#afterCr = false;
      if (chunk[0] === LF) i = 1;
    }
    if (this.#resync) {
      const end = nextBreak(chunk, 0);
      this.budget?.drop(end < 0 ? chunk.length : end + 1);
      if (end < 0) return;
      this.#resync = false;
      i = end + 1;
      if (chunk[end] === CR) {
        if (i === chunk.length) this.#afterCr = true;
        else if (chunk[i] === LF) i += 1;
      }
    }
    while (i < chunk.length) {
      const end = nextBreak(chunk, i);
      if (end < 0) {
        this.#take(chunk, i, chunk.length, true);
        return;
      }
      this.#take(chunk, i, end, false);
      this.#endLine();
      i = end + 1;
      if (chunk[end] === CR) {
        if (i === chunk.length) this.#afterCr = true;
        else if (chunk[i] === LF) i += 1;
      }
      if (this.#overBudget(chunk, i)) return;
    }
  }

  #overBudget(chunk: Buffer, from: number): boolean {
    if (!this.budget || from >= chunk.length || this.budget.allow()) return false;
    this.budget.drop(chunk.length - from);
    this.#skip();
    return true;
  }

  /** The stream ended: a pending line without its newline still counts. */
  end(): void {
    if (this.#resync) return;
    if (this.#length > 0 || this.#dropped >= 0) this.#endLine();
  }

  /**
   * Output was thrown away unread (see OutputBudget): the line it was part of is lost, and so is
   * the rest of that line in the chunks after it. Splitting starts again after the next line break.
   */
  #skip(): void {
    this.#parts = [];
    this.#length = 0;
    this.#dropped = -1;
    this.#afterCr = false;
    this.#resync = true;
  }

  /** Adds bytes [from, to) of `chunk` to the pending line; `pending`: the line goes on in a later chunk. */
  #take(chunk: Buffer, from: number, to: number, pending: boolean): void {
    if (from >= to) return;
    if (this.#dropped >= 0) {
      this.#dropped += to - from;
      return;
    }
    const room = this.max - this.#length;
    const kept = Math.min(room, to - from);
    // What outlives this call is copied: a view would pin the whole chunk it came from.
    const part = chunk.subarray(from, from + kept);
    this.#parts.push(pending || kept < to - from ? Buffer.from(part) : part);
    this.#length += kept;
    if (kept < to - from) {
      this.#dropped = to - from - kept;
      this.handler.line(this.#flush(), true);
    }
  }

  #endLine(): void {
    if (this.#dropped >= 0) {
      const dropped = this.#dropped;
      this.#dropped = -1;
      this.handler.cutEnded(dropped);
      return;
    }
    this.handler.line(this.#flush(), false);
  }

  #flush(): string {
    // Decoded whole, then escaped: a multi-byte character split across chunks stays one character.
    const text = this.#parts.length === 1 ? this.#parts[0].toString('utf8') : Buffer.concat(this.#parts, this.#length).toString('utf8');
    this.#parts = [];
    this.#length = 0;
    return printable(text);
  }
}

/**
 * Feeds a child's output stream to `handler`, line by line. What goes wrong on the way (a stream
 * error, a bug in the handler) goes to `onError`: it concerns this stream's service only, and
 * must not become an uncaught exception in the process that reads it.
 */
export function readLines(
  input: NodeJS.ReadableStream | null | undefined,
  handler: LineHandler,
  onError: (error: unknown) => void,
  budget?: OutputBudget,
): void {
  if (!input) return;
  const lines = new LineSplitter(handler, MAX_LINE_BYTES, budget);
  const guard = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      onError(error);
    }
  };
  // Over budget, output is dropped before it is split: a flood of short lines then costs a read and
  // a count, not a string, a log write and a timestamp per line. The child is never blocked: a
  // tunnel stuck writing its log would stop forwarding.
  input.on('data', (chunk: Buffer) => guard(() => lines.push(chunk)));
  input.on('end', () => guard(() => lines.end()));
  input.on('error', onError);
}

function nextBreak(chunk: Buffer, from: number): number {
  const lf = chunk.indexOf(LF, from);
  // Most output has no `\r`: search for it only up to the next `\n`.
  const cr = chunk.subarray(from, lf < 0 ? chunk.length : lf).indexOf(CR);
  return cr >= 0 ? from + cr : lf;
}

/** What handling one line costs beyond its bytes (a string, the tail, a timestamped log write), in bytes. */
export const LINE_COST = 64;

/**
 * How much of a service's output LocalPort handles: `rate` units a second (a line costs its length
 * plus LINE_COST), in bursts up to `burst`. Beyond that, whole chunks are dropped unread and
 * counted, and the log says so: a tunnel that prints `yes` cannot take the daemon's time from the
 * other services, nor rotate its own start-up messages out of its log in a second.
 */
export class OutputBudget {
  #tokens: number;
  #at = Date.now();
  #reportedAt = 0;
  droppedBytes = 0;

  constructor(
    private readonly rate = 64 * 1024,
    private readonly burst = 512 * 1024,
  ) {
    this.#tokens = burst;
  }

  /** Whether the next chunk may be handled (the budget is not spent). */
  allow(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    return this.#tokens > 0;
  }

  /** Charges a handled line. */
  spend(lineLength: number): void {
    this.#tokens -= lineLength + LINE_COST;
  }

  drop(bytes: number): void {
    this.droppedBytes += bytes;
  }

  /**
   * Says what was dropped since the last report, at most once a second unless `now`, and starts
   * counting afresh; undefined when there is nothing to say yet.
   */
  report(now = false): string | undefined {
    if (this.droppedBytes === 0 || (!now && Date.now() - this.#reportedAt < 1000)) return undefined;
    this.#reportedAt = Date.now();
    const text = `dropped ${this.droppedBytes} bytes of output: more than LocalPort handles for one service (about ${Math.round(this.rate / LINE_COST)} short lines or ${Math.round(this.rate / 1024)} KiB a second)`;
    this.droppedBytes = 0;
    return text;
  }
}
