import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, exactly what `npx localport` runs (npm test builds it first). */
export const BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<CliResult>;
  /** Resolves when stdout+stderr match `re`. */
  waitFor(re: RegExp, withinMs?: number): Promise<void>;
}

export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    listeners.forEach((l) => l());
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    err += c;
    listeners.forEach((l) => l());
  });
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, withinMs = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (re.test(out + err)) {
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => reject(new Error(`CLI output did not match ${re} within ${withinMs} ms.\nstdout:\n${out}\nstderr:\n${err}`)), withinMs);
        listeners.push(check);
        check();
        void exited.then(() => setTimeout(() => reject(new Error(`CLI exited before output matched ${re}.\nstdout:\n${out}\nstderr:\n${err}`)), 50));
      });
    },
  };
}

export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const p = startCli(args, opts);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 20000);
  return p.exited.finally(() => clearTimeout(timer));
}

/** A user error is printed without a stack trace. */
export const hasStack = (text: string) => /^\s+at .+:\d+:\d+\)?$/m.test(text);
