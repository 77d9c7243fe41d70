import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sha256 } from './sha256.js';
import { hasProcfs, procStat } from './supervisor/procs.js';

/**
 * The small file and process helpers every state file of LocalPort shares: run state, daemon info,
 * children records.
 */

/** A config file's id: what names its daemon, its socket and its state files. */
export function configId(configFile: string): string {
  return sha256(path.resolve(configFile)).slice(0, 16);
}

/** Written atomically (temp file + rename): a reader never sees half a file. 0600 in a 0700 directory. */
export function writeJsonAtomic(file: string, data: unknown): void {
  writeFileAtomic(file, JSON.stringify(data));
}

/** A text file written as writeJsonAtomic writes JSON: whole or not at all, 0600 in a 0700 directory. */
export function writeFileAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  // A temp file left by a killed predecessor with this pid could have another mode: never reuse it.
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** The parsed file, or undefined when it is missing or not JSON. */
export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a running process of ours: signalable, and not a zombie (an exited process whose
 * parent has not reaped it yet is gone for every purpose here).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!hasProcfs) return true;
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}
