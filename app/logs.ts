import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { logDir, serviceLogFile } from '../core/dirs.js';
import { LocalPortError } from '../core/errors.js';
import type { LogEntry } from '../core/types.js';

/** A service log's line as ServiceLog writes it: `TIME STREAM TEXT`. */
const SERVICE_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (stdout|stderr|localport) (.*)$/s;

/**
 * A log line, parsed into time, level and message: a pino JSON line (the daemon's log), or a service
 * log's `TIME STREAM TEXT`, whose level is the stream it came from (`stdout` or `stderr` of the tunnel,
 * `localport` for LocalPort's own note): tunnel output has no level of its own. Any other line is the message.
 */
export function parseLine(line: string): LogEntry {
  const service = SERVICE_LINE.exec(line);
  if (service) return { time: service[1]!, level: service[2]!, message: service[3]! };
  if (!line.startsWith('{')) return { time: null, level: null, message: line };
  try {
    const o = JSON.parse(line) as { time?: number; level?: number; msg?: string };
    const level = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }[o.level ?? 30] ?? 'info';
    return { time: new Date(o.time ?? Date.now()).toISOString(), level, message: o.msg ?? '' };
  } catch {
    return { time: null, level: null, message: line };
  }
}

/** One log file, as `logs --list` shows it (none when it does not exist yet). */
export function fileInfo(name: string, file: string): { name: string; file: string; bytes: number; modified: string }[] {
  if (!existsSync(file)) return [{ name, file, bytes: 0, modified: '' }];
  const st = statSync(file);
  return [{ name, file, bytes: st.size, modified: st.mtime.toISOString() }];
}

/**
 * A log file to read: a regular file, or none yet. Anything else in its place (a FIFO would block the
 * read until someone wrote to it; a device) is said, not read.
 */
function readable(file: string): boolean {
  if (!existsSync(file)) return false;
  if (statSync(file).isFile()) return true;
  throw new LocalPortError('STATE_UNWRITABLE', `the log file ${file} is not a regular file (a FIFO, a device?): LocalPort does not read it`, { hint: 'Remove it: LocalPort makes the log again.' });
}

export function lastLines(file: string, n: number, grep?: RegExp): string[] {
  if (!readable(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return (grep ? lines.filter((l) => grep.test(l)) : lines).slice(-n);
}

/**
 * The service logs of the config `configFile`, by service name; without one, every config's, named
 * `project/service` (`logs --list --all`).
 */
export function listLogs(configFile?: string): { name: string; file: string; bytes: number; modified: string }[] {
  const root = configFile ? path.dirname(serviceLogFile('-', configFile)) : path.join(logDir(), 'services');
  const out: { name: string; file: string; bytes: number; modified: string }[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.log')) {
        const st = statSync(file);
        out.push({ name: path.relative(root, file).slice(0, -4), file, bytes: st.size, modified: st.mtime.toISOString() });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export { serviceLogFile };

/**
 * Follows a file like `tail -F`: prints what is appended; when the file is rotated or truncated
 * (a new inode, or a smaller size), starts again from the top of the new file.
 */
export async function follow(file: string, onLine: (line: string) => void, signal: AbortSignal, everyMs = 100): Promise<void> {
  let pos = existsSync(file) ? statSync(file).size : 0;
  let ino = existsSync(file) ? statSync(file).ino : 0;
  let partial = '';
  while (!signal.aborted) {
    await new Promise((r) => setTimeout(r, everyMs));
    if (!existsSync(file)) continue;
    const st = statSync(file);
    // Replaced by something that is not a file (a FIFO's open would block): waits for a file again.
    if (!st.isFile()) continue;
    if (st.ino !== ino || st.size < pos) {
      ino = st.ino;
      pos = 0;
      partial = '';
    }
    if (st.size === pos) continue;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(st.size - pos);
      readSync(fd, buf, 0, buf.length, pos);
      pos = st.size;
      const text = partial + buf.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      lines.filter(Boolean).forEach(onLine);
    } finally {
      closeSync(fd);
    }
  }
}
