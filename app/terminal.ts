/**
 * What the terminal takes: colour and width, decided in one place for every output (tables, errors,
 * the progress tree). Colour, in order: `--no-color`/`--color` (or `--color=never|always|auto`), then `NO_COLOR` (set and not empty:
 * no-color.org), then `FORCE_COLOR` (`0` or `false`: off; any other value: on), then whether the stream
 * is a terminal (and TERM is not `dumb`).
 */

/**
 * What one argument says about colour: `--color` and `--color=always` true, `--no-color` and
 * `--color=never` false, `--color=auto` 'auto' (decide as if no flag was given), `--color=` with any
 * other value 'invalid' (main.ts refuses it), and undefined for an argument that is no colour flag.
 */
export function colorArg(arg: string): boolean | 'auto' | 'invalid' | undefined {
  if (arg === '--color' || arg === '--color=always') return true;
  if (arg === '--no-color' || arg === '--color=never') return false;
  if (arg === '--color=auto') return 'auto';
  return arg.startsWith('--color=') ? 'invalid' : undefined;
}

/** The colour flags anywhere before `--`, the last one winning: true, false, or undefined (none, or `auto`). */
export function colorFlag(argv: readonly string[] = process.argv.slice(2)): boolean | undefined {
  let flag: boolean | undefined;
  for (const a of argv) {
    if (a === '--') break;
    const c = colorArg(a);
    if (typeof c === 'boolean') flag = c;
    else if (c === 'auto') flag = undefined;
  }
  return flag;
}

export function useColor(stream: NodeJS.WriteStream | NodeJS.WritableStream, flag = colorFlag(), env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag !== undefined) return flag;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR.toLowerCase());
  return (stream as NodeJS.WriteStream).isTTY === true && env.TERM !== 'dumb';
}

/**
 * The columns a table on `stream` must fit: the terminal's width, or `COLUMNS` when it is not a terminal
 * but says how wide its reader is; undefined (no limit) otherwise, and with `--wide`.
 */
export function terminalWidth(stream: NodeJS.WriteStream | NodeJS.WritableStream, wide = false, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (wide) return undefined;
  const s = stream as NodeJS.WriteStream;
  if (s.isTTY && s.columns > 0) return s.columns;
  const columns = Number(env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? columns : undefined;
}

/**
 * Runs `load` (an import of listr2, whose colorette reads the environment once, when it loads) with the
 * environment saying what `useColor` decided for stderr, so the progress tree and the tables agree.
 */
export async function withColorEnv<T>(color: boolean, load: () => Promise<T>): Promise<T> {
  const saved = { NO_COLOR: process.env.NO_COLOR, FORCE_COLOR: process.env.FORCE_COLOR };
  if (color) {
    delete process.env.NO_COLOR;
    process.env.FORCE_COLOR = '1';
  } else {
    process.env.NO_COLOR = '1';
    delete process.env.FORCE_COLOR;
  }
  try {
    return await load();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
