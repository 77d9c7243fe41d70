import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LocalPortError } from './errors.js';
import { printable } from './printable.js';
import type { Redactor } from './redact.js';
import type { Logger } from './types.js';
import { mainLogFile } from './dirs.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Logs rotate past this size (LOCALPORT_LOG_MAX_BYTES overrides it); three old files are kept. */
export const logMaxBytes = () => Number(process.env.LOCALPORT_LOG_MAX_BYTES ?? 5 * 1024 * 1024);
const KEEP = 3;

/** file → file.1 → file.2 → file.3 (the oldest is dropped). */
export function rotateFiles(file: string): void {
  for (let i = KEEP - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  if (existsSync(file)) renameSync(file, `${file}.1`);
}

const sizeOf = (file: string) => (existsSync(file) ? statSync(file).size : 0);

/**
 * `openSync(file, 'a', 0o600)`, but never waiting: a FIFO put in a log's place would make the open wait
 * for a reader, in the event loop, and with it every tunnel and the control socket. With no reader it
 * fails (ENXIO), which a log that cannot be written tolerates; with one, a full pipe drops lines (EAGAIN).
 */
const openLog = (file: string) => openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NONBLOCK ?? 0), 0o600);

export interface FileLogger extends Logger {
  child(bindings: Record<string, unknown>): FileLogger;
  flush(): void;
  /** Opens the log file again if it was deleted (say with the whole state dir); true if it did. */
  reopenIfGone?(): boolean;
}

const load = createRequire(import.meta.url);
const LEVEL_VALUES: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/**
 * The logger of a log file: pino, loaded at the first line written at an enabled level. `status` and
 * `config validate` write none, and loading pino (with Node's worker and stream modules) was ~10 ms of
 * their start-up (issue #15). The directory (0700) and the file (0600) are made at once, as before.
 */
export async function createLogger(redactor: Redactor, opts: { level?: LogLevel; file?: string } = {}): Promise<{ logger: FileLogger; file: string }> {
  const file = opts.file ?? mainLogFile();
  const level = opts.level ?? 'info';
  // Logs are state: the directory 0700, the files 0600 (redacted, but still nobody else's business).
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    closeSync(openLog(file));
  } catch (error) {
    // The machine's state, not a bug: a read-only home, a state directory set to somewhere else's.
    throw new LocalPortError('STATE_UNWRITABLE', `cannot write the log file ${file}: ${whyNotWritable(file, error as NodeJS.ErrnoException)}`, {
      hint: 'Set LOCALPORT_STATE_DIR to a directory of yours that can be written.',
    });
  }
  let real: FileLogger | undefined;
  const root = () => (real ??= pinoLogger(redactor, file, level));
  const lazy = (get: () => FileLogger): FileLogger => {
    let target: FileLogger | undefined;
    const resolved = () => (target ??= get());
    const logger = {
      level,
      isLevelEnabled: (l: LogLevel) => LEVEL_VALUES[l] >= LEVEL_VALUES[level],
      child: (bindings: Record<string, unknown>) => lazy(() => resolved().child(bindings)),
      flush: () => real?.flush(),
      reopenIfGone: () => {
        if (real) return real.reopenIfGone?.() ?? false;
        if (existsSync(file)) return false;
        closeSync(openLog(file));
        return true;
      },
    } as Record<string, unknown>;
    for (const m of METHODS) {
      logger[m] = (...args: unknown[]) => {
        if (LEVEL_VALUES[m] >= LEVEL_VALUES[level]) (resolved() as unknown as Record<string, (...a: unknown[]) => void>)[m](...args);
      };
    }
    return logger as unknown as FileLogger;
  };
  // A level pino does not know is its error to report, as before.
  if (!(level in LEVEL_VALUES)) root();
  return { logger: lazy(root), file };
}

/**
 * Why `file` could not be made, as its first existing ancestor says: a recursive mkdir on a read-only
 * file system reports ENOENT for the directory it could not make, not the EROFS that stopped it.
 */
function whyNotWritable(file: string, error: NodeJS.ErrnoException): string {
  let dir = path.dirname(file);
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    return `${(e as NodeJS.ErrnoException).code ?? 'not writable'} (${dir})`;
  }
  // ENXIO: a FIFO (with nothing reading it) where the log should be.
  if (error.code === 'ENXIO') return 'it is a FIFO, not a file: remove it';
  return `${error.code ?? error.message}${error.path && error.path !== file ? ` (${error.path})` : ''}`;
}

/**
 * pino, writing JSON lines to the log file. Every line passes through the redactor before it reaches
 * the disk, whatever a plugin or an error message put into it.
 */
function pinoLogger(redactor: Redactor, file: string, level: LogLevel): FileLogger {
  const { pino } = load('pino') as typeof import('pino');
  const dest = pino.destination({ dest: file, sync: true, append: true, mkdir: true, mode: 0o600 });
  let bytes = sizeOf(file);
  const max = logMaxBytes();
  const stream = {
    write: (line: string) => {
      const text = redactor.text(line);
      if (bytes + text.length > max && bytes > 0) {
        dest.flushSync();
        rotateFiles(file);
        dest.reopen();
        bytes = 0;
      }
      bytes += Buffer.byteLength(text);
      dest.write(text);
    },
  };
  const logger = pino({ level, base: { pid: process.pid } }, stream);
  const wrap = (l: typeof logger): FileLogger =>
    Object.assign(l, {
      flush: () => {
        try {
          dest.flushSync();
        } catch {
          /* nothing buffered */
        }
      },
      reopenIfGone: () => {
        if (existsSync(file)) return false;
        dest.reopen();
        bytes = 0;
        return true;
      },
    }) as unknown as FileLogger;
  const original = logger.child.bind(logger);
  (logger as unknown as { child: unknown }).child = (b: Record<string, unknown>) => wrap(original(b));
  return wrap(logger);
}

/**
 * A service's own log: what its tunnel process prints, one timestamped, redacted line at a time.
 * Written synchronously through one file descriptor: tunnel output is small, and a rotation then
 * never races an asynchronous open.
 */
export class ServiceLog {
  readonly file: string;
  #fd: number | undefined;
  #bytes = -1;
  /** When the file was last seen on disk: a deleted log (rm -rf of the state dir) is opened anew. */
  #seenAt = 0;

  constructor(
    file: string,
    readonly redactor: Redactor,
  ) {
    this.file = file;
  }

  line(stream: 'stdout' | 'stderr' | 'localport', text: string): void {
    // `logs` prints this file to a terminal: what LocalPort notes here may quote config values
    // (the spawned command line) or a plugin's words, so they are made printable like tunnel output.
    const entry = `${new Date().toISOString()} ${stream} ${printable(this.redactor.text(text))}\n`;
    try {
      if (this.#bytes < 0) this.#bytes = sizeOf(this.file);
      if (this.#bytes + entry.length > logMaxBytes() && this.#bytes > 0) {
        this.#closeFd();
        rotateFiles(this.file);
        this.#bytes = 0;
      }
      // Writes to a deleted file vanish: look, at most once a second, whether it is still there.
      if (this.#fd !== undefined && Date.now() - this.#seenAt > 1000) {
        this.#seenAt = Date.now();
        if (!existsSync(this.file)) {
          this.#closeFd();
          this.#bytes = 0;
        }
      }
      if (this.#fd === undefined) {
        mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
        this.#seenAt = Date.now();
        this.#fd = openLog(this.file);
      }
      this.#bytes += writeSync(this.#fd, entry);
    } catch {
      // A log that cannot be written must not take the supervisor down with it.
    }
  }

  #closeFd(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  close(): Promise<void> {
    this.#closeFd();
    return Promise.resolve();
  }
}
