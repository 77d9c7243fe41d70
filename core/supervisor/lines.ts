/**
 * Tunnel output, read with bounded memory. A tunnel is any program (an `exec` service can be
 * anything), so its output is untrusted: an endless line, a 10 MB line or a binary flood must cost
 * LocalPort a fixed amount of memory. readline, used before, buffers a line until it ends and throws
 * `RangeError: Invalid string length` past V8's string limit (after growing by about a gigabyte).
 */

/** The longest line kept; the rest of a longer line is cut and counted. */
export const MAX_LINE_BYTES = 8 * 1024;

export interface LineHandler {
  /** A complete line, or the first MAX_LINE_BYTES of a longer one (`cut` is then true, the rest still to come). */
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

  constructor(
    private readonly handler: LineHandler,
    private readonly max = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let i = 0;
    if (this.#afterCr && chunk.length > 0) {
      this.#afterCr = false;
      if (chunk[0] === LF) i = 1;
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
    }
  }

  /** The stream ended: a pending line without its newline still counts. */
  end(): void {
    if (this.#length > 0 || this.#dropped >= 0) this.#endLine();
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
    const text = this.#parts.length === 1 ? this.#parts[0].toString('utf8') : Buffer.concat(this.#parts, this.#length).toString('utf8');
    this.#parts = [];
    this.#length = 0;
    return text;
  }
}

/**
 * Feeds a child's output stream to `handler`, line by line. What goes wrong on the way (a stream
 * error, a bug in the handler) goes to `onError`: it concerns this stream's service only, and
 * must not become an uncaught exception in the process that reads it.
 */
export function readLines(input: NodeJS.ReadableStream | null | undefined, handler: LineHandler, onError: (error: unknown) => void): void {
  if (!input) return;
  const lines = new LineSplitter(handler);
  const guard = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      onError(error);
    }
  };
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

/**
 * How much tunnel output reaches the service log: `rate` bytes a second, in bursts up to `burst`.
 * Beyond that, lines are dropped and counted (the log says how many), so a chatty tunnel cannot
 * spend the daemon's time on disk writes or rotate its own start-up messages away in a second.
 */
export class OutputBudget {
  #tokens: number;
  #at = Date.now();
  droppedLines = 0;
  droppedBytes = 0;

  constructor(
    private readonly rate = 256 * 1024,
    private readonly burst = 1024 * 1024,
  ) {
    this.#tokens = burst;
  }

  /** True if a line of `bytes` may be written now; otherwise it is counted as dropped. */
  take(bytes: number): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens >= bytes) {
      this.#tokens -= bytes;
      return true;
    }
    this.droppedLines += 1;
    this.droppedBytes += bytes;
    return false;
  }

  #reportedAt = 0;

  /**
   * Says what was dropped since the last report, at most once a second unless `now` (then resets the
   * count); undefined when there is nothing to say yet.
   */
  report(now = false): string | undefined {
    if (this.droppedLines === 0 || (!now && Date.now() - this.#reportedAt < 1000)) return undefined;
    this.#reportedAt = Date.now();
    const text = `dropped ${this.droppedLines} line${this.droppedLines === 1 ? '' : 's'} (${this.droppedBytes} bytes) of output: more than ${Math.round(this.rate / 1024)} KiB/s`;
    this.droppedLines = 0;
    this.droppedBytes = 0;
    return text;
  }
}
