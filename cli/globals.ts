import { colorArg, colorFlag } from '../app/terminal.js';
import { COMMAND_KEY } from './compiledKey.js';

/**
 * Options the original CLI accepts before the command (`localport --config f.yaml start --all`).
 * main.ts takes them off the front of argv; every command falls back to them.
 */
export interface Globals {
  config?: string;
  output?: string;
  logLevel?: string;
  /** `--color` / `--no-color` (or `--color=always|never`) anywhere before `--`, the last one winning. */
  color?: boolean;
  /** `run`'s COMMAND: everything after the first `--`. */
  command: string[];
}

export const globals: Globals = { command: [] };

const WITH_VALUE: Record<string, 'config' | 'output' | 'logLevel'> = { '-c': 'config', '--config': 'config', '--output': 'output', '-o': 'output', '--log-level': 'logLevel' };

/**
 * The `--output` (or `--json`) anywhere among `args`, for when clipanion cannot parse them: its error
 * is then printed in that format. `--` ends the search (what follows is `run`'s command).
 */
export function requestedOutput(args: string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    const a = args[i];
    if (a === '--json') found = 'json';
    else if ((a === '-o' || a === '--output') && i + 1 < args.length) found = args[++i];
    else if (a.startsWith('--output=')) found = a.slice('--output='.length);
  }
  return found;
}

/** Splits argv into what clipanion parses and the globals/command it must not see. */
export function extractGlobals(argv: string[]): { args: string[]; globals: Globals } {
  const g: Globals = { command: [] };
  const args = [...argv];
  const leadingColor: string[] = [];
  const isFlag = (a: string) => colorArg(a) !== undefined && colorArg(a) !== 'invalid';
  // Leading global options.
  while (args.length) {
    const [head] = args;
    const eq = head.indexOf('=');
    const flag = eq > 0 ? head.slice(0, eq) : head;
    const key = WITH_VALUE[flag];
    if (key && eq > 0) {
      g[key] = head.slice(eq + 1);
      args.shift();
    } else if (key && args.length >= 2) {
      g[key] = args[1];
      args.splice(0, 2);
    } else if (head === '--json') {
      g.output = 'json';
      args.shift();
    } else if (isFlag(head)) {
      // Taken with the others below; stepped over here, so that the globals after it are found.
      args.shift();
      leadingColor.push(head);
    } else break;
  }
  const dd = args.indexOf('--');
  if (dd >= 0) {
    g.command = args.slice(dd + 1);
    args.splice(dd);
  }
  // The colour flags, wherever they are: clipanion knows only `--color` and `--no-color`, not
  // `--color=never|always|auto` (GNU's form), and `--color=auto` after `--no-color` must undo it.
  // An invalid `--color=` value stays for main.ts to refuse.
  const color = colorFlag([...leadingColor, ...args]);
  if (color !== undefined) g.color = color;
  return { args: args.filter((a) => !isFlag(a)), globals: g };
}

/**
 * What this run compiled, for the code cache (cli/cached.ts, COMMAND_KEY): the command, then what else
 * decides which functions it runs (a config that is code, loaded through jiti). The cache is written
 * again the first time a run names something it does not hold yet.
 */
export function compiledFor(part: string): void {
  const g = globalThis as Record<symbol, unknown>;
  g[COMMAND_KEY] = typeof g[COMMAND_KEY] === 'string' ? `${g[COMMAND_KEY] as string} ${part}` : part;
}
