// Part of the build, after tsc: bundles the CLI (dist/cli/main.js and the libraries it loads) into one
// file, dist/cli/bundle.js, which bin.js loads. Node then reads and links one module instead of about
// 250 (zod alone is 95; cosmiconfig, clipanion, pino and tapable are trees of CommonJS files): issue #15's
// cold start, measured by bench/cold-start.mjs.
//
// - One file, no chunks: each chunk costs Node a module of its own, and one file measured ~20 ms less
//   for `status` than esbuild's code splitting did. A lazy `import()` of LocalPort's own code is still
//   lazy: the module is parsed with the rest but runs only when imported.
// - Libraries that only some commands load stay in node_modules, imported when used as before
//   (EXTERNAL): the heavy ones (execa, undici, kafkajs, pg, listr2, chokidar), jiti (.ts configs) and
//   those that find files of their own by path at run time (jiti's transformer, kafkajs' internals).
// - The daemon (dist/daemon/main.js, started by path) and the public API (dist/index.js, what a config's
//   `import … from 'localport'` gets) are not bundled: they stay tsc's output.
// - Code that finds a file next to itself (`new URL('../../package.json', import.meta.url)`) keeps
//   finding it: in the bundle, `import.meta.url` is the bundle's, so each module's is rewritten to the
//   URL its tsc output has in dist/.
// - The map chains tsc's maps, which carry the TypeScript sources: `node --enable-source-maps` shows
//   the .ts lines of a stack.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
const outfile = path.join(dist, 'cli', 'bundle.js');

/** Loaded only where used, heavy, or reading their own files by path: imported from node_modules as before. */
const EXTERNAL = ['chokidar', 'execa', 'jiti', 'kafkajs', 'listr2', 'pg', 'typescript', 'undici'];

// A module of LocalPort's own (dist/**.js) that uses import.meta.url gets the URL of its tsc output.
const ownUrls = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(`${dist}${path.sep}`) || args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const rel = path.relative(path.dirname(outfile), args.path).split(path.sep).join('/');
      return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js' };
    });
  },
};

rmSync(outfile, { force: true });
rmSync(`${outfile}.map`, { force: true });
await build({
  entryPoints: [path.join(dist, 'cli', 'main.js')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: EXTERNAL,
  plugins: [ownUrls],
  // The CommonJS libraries bundled in call `require` for Node's built-ins; an ES module has none.
  banner: { js: "import { createRequire as __localportRequire } from 'node:module';\nconst require = __localportRequire(import.meta.url);" },
  sourcemap: 'linked',
  sourcesContent: true,
  logLevel: 'warning',
});
