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
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
const outfile = path.join(dist, 'cli', 'bundle.cjs');

/** Loaded only where used, heavy, or reading their own files by path: imported from node_modules as before. */
const EXTERNAL = ['chokidar', 'execa', 'kafkajs', 'listr2', 'pg', 'typescript', 'undici'];

// LocalPort's own modules (dist/**.js), as tsc wrote them, with two changes:
// - `import.meta.url` is the URL of the module's tsc output (a CommonJS script has no import.meta, and
//   the bundle's own URL would be another directory);
// - `import('execa')` of a library left out of the bundle, or of a Node built-in, goes through
//   `__localportImport`: the bundle runs as a vm.Script (cli/cached.ts, for V8's code cache), where
//   `import()` needs an experimental flag, so the loader passes a function that imports; required
//   as a plain CommonJS module, it is `import()`.
const EXTERNAL_IMPORT = new RegExp(`\\bimport\\((['"])((?:node:[\\w/]+)|(?:${EXTERNAL.join('|')})(?:/[^'"]*)?)\\1\\)`, 'g');
const own = {
  name: 'own',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(`${dist}${path.sep}`) || args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const rel = path.relative(path.dirname(outfile), args.path).split(path.sep).join('/');
      const source = readFileSync(args.path, 'utf8')
        .replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`)
        .replace(EXTERNAL_IMPORT, (_, q, spec) => `__localportImport(${q}${spec}${q})`);
      return { contents: source, loader: 'js' };
    });
  },
};

// Two things left out of what every command parses (400 KB, ~12 ms of `status`), and one module loaded later:
// - zod's translations of its messages into 50 languages (`z.locales`). LocalPort's messages are in
//   English (zod's default, `en`, stays in); another locale, which a config may set with
//   `z.config(z.locales.de())`, is required from node_modules when called.
// - A second copy of js-yaml: cosmiconfig requires the CommonJS build, LocalPort imports the ES module
//   build; both get the ES module one (same API: load, dump, …).
const trim = {
  name: 'trim',
  setup(b) {
    // Named relative to the project (the name goes into the bundle and its map: never the build machine's path).
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (args.importer.includes(`${path.sep}zod${path.sep}`) ? { path: path.relative(root, path.join(args.resolveDir, '../locales/index.js')).split(path.sep).join('/'), namespace: 'zod-locales' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => {
      const file = path.join(root, args.path);
      const names = [...readFileSync(file, 'utf8').matchAll(/export \{ default as (\w+) \} from "\.\/([\w-]+)\.js"/g)].map((m) => [m[1], m[2]]);
      const lines = names.map(([name, file]) => (name === 'en' ? `export { default as en } from './en.js';` : `export const ${name} = (...args) => load('zod/v4/locales/${file}.js').default(...args);`));
      return { contents: `import { createRequire } from 'node:module';\nconst load = createRequire(import.meta.url);\n${lines.join('\n')}\n`, resolveDir: path.dirname(file), loader: 'js' };
    });
    b.onResolve({ filter: /^js-yaml$/ }, () => ({ path: path.join(root, 'node_modules', 'js-yaml', 'dist', 'js-yaml.mjs') }));
    // jiti (a .ts or .js config) is in the bundle, and so in its code cache: from node_modules, Node 20
    // compiled its 190 KB on every command with such a config. Its transform (Babel, 1.5 MB, for a config
    // not transpiled yet) stays in node_modules, required from there by path; the ES modules a config
    // imports natively go through the bundle's importer (cli/cached.ts).
    b.onLoad({ filter: /[\\/]jiti[\\/]lib[\\/]jiti\.mjs$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const patched = source
        .replace('createRequire(import.meta.url)("../dist/babel.cjs")', 'createRequire(__localportUrl)(createRequire(__localportUrl).resolve("jiti/package.json").replace(/package\\.json$/, "dist/babel.cjs"))')
        .replace('const nativeImport = (id) => import(id);', 'const nativeImport = (id) => __localportImport(id);');
      if ((patched.match(/__localport/g) ?? []).length !== 3) throw new Error(`scripts/bundle.mjs: ${args.path} changed; update the jiti patch`);
      return { contents: patched, loader: 'js' };
    });
    // cosmiconfig's loaders require node:crypto as they load, for the name of a temporary file of its
    // TypeScript loader (LocalPort loads .ts with jiti): loading crypto costs every command ~3 ms on Node 24.
    b.onLoad({ filter: /[\\/]cosmiconfig[\\/]dist[\\/]loaders\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const lazy = source.replace('const crypto_1 = require("crypto");', 'const crypto_1 = { get randomUUID() { return require("crypto").randomUUID; } };');
      if (lazy === source) throw new Error(`scripts/bundle.mjs: ${args.path} no longer requires crypto as expected; update the trim plugin`);
      return { contents: lazy, loader: 'js' };
    });
  },
};

// The bundle's entry: the public API, published for the configs this process loads (load.ts, ownEntry:
// they import it through API_SHIM), then the CLI. One copy of each class and of zod serves
// both, so that an error a config's plugin throws is `instanceof` the classes the CLI checks.
const entry = {
  name: 'entry',
  setup(b) {
    b.onResolve({ filter: /^localport-cli-entry$/ }, () => ({ path: 'entry', namespace: 'entry' }));
    b.onResolve({ filter: /^localport-cli-publish$/ }, () => ({ path: 'publish', namespace: 'entry' }));
    b.onResolve({ filter: /^localport-cli-jitless$/ }, () => ({ path: 'jitless', namespace: 'entry' }));
    // Paths relative to resolveDir: these contents go into the map, which must not carry the build machine's paths.
    b.onLoad({ filter: /^entry$/, namespace: 'entry' }, () => ({ contents: `import 'localport-cli-jitless';\nimport 'localport-cli-publish';\nimport './dist/cli/main.js';\n`, resolveDir: root }));
    // zod compiles a parser for each object schema with \`new Function\` the first time it parses: worth it
    // in a process that parses many times, not in a command that parses one config once (~2 ms of
    // \`status\`). First of all: a schema reads the setting when it is made. The daemon is not bundled.
    b.onLoad({ filter: /^jitless$/, namespace: 'entry' }, () => ({ contents: `import { config } from 'zod/v4/core';\nconfig({ jitless: true });\n`, resolveDir: root }));
    // A getter: the API (zod, every built-in plugin) is evaluated when a config imports it, or when a
    // command loads it anyway; `stop` or `logs` never do.
    b.onLoad({ filter: /^publish$/, namespace: 'entry' }, () => ({
      contents: `const { fileURLToPath } = require('node:url');\nglobalThis[Symbol.for('localport.bundledApi')] = { get api() { return require('./dist/index.js'); }, entry: fileURLToPath(new URL('./${path.basename(API_SHIM)}', import.meta.url)) };\n`,
      resolveDir: root,
    }));
  },
};

const API_SHIM = path.join(dist, 'cli', 'api.js');
const names = Object.keys(await import(pathToFileURL(path.join(dist, 'index.js')).href)).filter((n) => n !== 'default');
writeFileSync(
  API_SHIM,
  `// Written by scripts/bundle.mjs: what \`import … from 'localport'\` gets in a config the bundled CLI loads.\nconst { api } = globalThis[Symbol.for('localport.bundledApi')];\nexport const { ${names.join(', ')} } = api;\n`,
);

rmSync(outfile, { force: true });
rmSync(`${outfile}.map`, { force: true });
await build({
  entryPoints: ['localport-cli-entry'],
  outfile,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  external: EXTERNAL,
  plugins: [entry, own, trim],
  // A CommonJS script has no import.meta: the URL of the bundle itself stands for it.
  define: { 'import.meta.url': '__localportUrl' },
  banner: { js: "const __localportUrl = require('node:url').pathToFileURL(__filename).href;\nconst __localportImport = typeof __localportImporter === 'function' ? __localportImporter : (specifier) => import(specifier);" },
  sourcemap: 'linked',
  sourcesContent: true,
  logLevel: 'warning',
});
// esbuild escapes what is not ASCII in code, not in the comments it keeps: escaped there too, the file is
// ASCII, which cli/cached.ts reads as Latin-1, twice as fast as decoding UTF-8 (~1.5 ms of every command).
const text = readFileSync(outfile, 'utf8');
writeFileSync(outfile, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
