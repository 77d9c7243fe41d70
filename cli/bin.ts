#!/usr/bin/env node
/**
 * The `localport` entry point. `localport --help` (and bare `localport`) print the command list that the
 * build wrote (scripts/help-cache.mjs: the CLI's own `--help`, plain and coloured), and `--version` the
 * package's version, so they cost little more than Node starting; anything else loads the CLI: the
 * build's bundle of main.ts and the libraries it needs (scripts/bundle.mjs), with V8's code cache, or
 * main.ts itself where there is no bundle (a build that stopped after tsc).
 */
// Node's modules through getBuiltinModule, not `import`: an ES module importing a built-in gets a copy of
// all its exports, and fs's include `promises`, which loads fs/promises, readline and streams (~2.5 ms
// of `--help` on Node 24).
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs');
const module = process.getBuiltinModule('node:module');
const { fileURLToPath } = process.getBuiltinModule('node:url');

// NO_COLOR wins over FORCE_COLOR (app/terminal.ts). Node's own colour check, which clipanion runs as it
// loads, would otherwise warn on every command that it ignores NO_COLOR.
if (process.env.NO_COLOR && process.env.FORCE_COLOR !== undefined) delete process.env.FORCE_COLOR;

const args = process.argv.slice(2);
let served = false;
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write(`${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}\n`);
  served = true;
} else if (args.length === 0 || (args.length === 1 && (args[0] === '--help' || args[0] === '-h'))) {
  try {
    // Imported here, not at the top: each module Node loads is ~1 ms, and the other commands need none.
    const { useColor } = await import('../app/terminal.js');
    const text = readFileSync(new URL(useColor(process.stdout) ? './help.color.txt' : './help.txt', import.meta.url), 'utf8');
    process.stdout.write(text);
    served = true;
  } catch {
    /* not built: the CLI prints it */
  }
}
if (!served) {
  const bundle = fileURLToPath(new URL('./bundle.cjs', import.meta.url));
  if (existsSync(bundle)) {
    // Node 22.1+ also keeps the compiled code of the modules loaded from node_modules later (execa,
    // undici…). The bundle has a cache of its own (cached.ts), which also holds the functions a command
    // compiled as it ran. Both are code V8 runs: only in the directory cached.ts checked is ours alone
    // (never Node's default under a temporary directory another user may have made first).
    const { compileCacheDir, runBundle } = await import('./cached.js');
    const dir = compileCacheDir();
    if (dir) (module as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache?.(`${dir}/node`);
    runBundle(bundle, dir);
  } else {
    await import('./main.js');
  }
}
