import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Redactor } from './redact.js';
import type { Logger } from './types.js';
import { mainLogFile, serviceLogFile } from './paths.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface FileLogger extends Logger {
  child(bindings: Record<string, unknown>): FileLogger;
  flush(): void;
}

/**
 * pino, writing JSON lines to the state directory's log file. Every line passes through the
 * redactor before it reaches the disk, whatever a plugin or an error message put into it.
 */
export async function createLogger(redactor: Redactor, opts: { level?: LogLevel; file?: string } = {}): Promise<{ logger: FileLogger; file: string }> {
  const { pino } = await import('pino');
  const file = opts.file ?? mainLogFile();
  mkdirSync(path.dirname(file), { recursive: true });
  const dest = pino.destination({ dest: file, sync: true, append: true, mkdir: true });
  const stream = { write: (line: string) => dest.write(redactor.text(line)) };
  const logger = pino({ level: opts.level ?? 'info', base: { pid: process.pid } }, stream);
  const wrap = (l: typeof logger): FileLogger =>
    Object.assign(l, {
      flush: () => {
        try {
          dest.flushSync();
        } catch {
          /* nothing buffered */
        }
      },
    }) as unknown as FileLogger;
  const original = logger.child.bind(logger);
  (logger as unknown as { child: unknown }).child = (b: Record<string, unknown>) => wrap(original(b));
  return { logger: wrap(logger), file };
}

/** A service's own log: what its tunnel process prints, one timestamped, redacted line at a time. */
export class ServiceLog {
  readonly file: string;
  #stream: WriteStream | undefined;

  constructor(service: string, private readonly redactor: Redactor) {
    this.file = serviceLogFile(service);
  }

  line(stream: 'stdout' | 'stderr' | 'localport', text: string): void {
    if (!this.#stream) {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.#stream = createWriteStream(this.file, { flags: 'a' });
      // A log that cannot be written must not take the supervisor down with it.
      this.#stream.on('error', () => {});
    }
    this.#stream.write(`${new Date().toISOString()} ${stream} ${this.redactor.text(text)}\n`);
  }

  close(): Promise<void> {
    const s = this.#stream;
    this.#stream = undefined;
    return new Promise((resolve) => (s ? s.end(resolve) : resolve()));
  }
}
