// `npm pack` / `npm publish` lifecycle: `node scripts/pack.mjs prepack|postpack`.
//
// `prepare` builds dist/ when `npm install` runs in a clone (the README's first command). The tarball must
// not declare it: npm 11 counts the `prepare` of a package installed from a tarball, a directory or git as
// an install script and warns on every `npm i ./localport-*.tgz` that allowScripts does not cover it; and
// in the tarball the script could not work anyway (no tsconfig.json, no TypeScript). So prepack builds
// dist/ from scratch — a stale file left in dist/ by an older build would otherwise be shipped — and
// writes package.json without `scripts.prepare`; postpack puts the original file back, byte for byte.
// npm reads package.json again after prepack, so the tarball gets the file without `prepare`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const manifest = path.join(root, 'package.json');
// Under .tmp/ (git-ignored): if a pack dies between the two steps, the next prepack restores it first.
const saved = path.join(root, '.tmp', 'package.json.before-pack');

function restore() {
  if (existsSync(saved)) renameSync(saved, manifest);
}

const step = process.argv[2];
if (step === 'prepack') {
  restore();
  rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'assets.mjs')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'bundle.mjs')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'help-cache.mjs')], { cwd: root, stdio: 'inherit' });
  const text = readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  mkdirSync(path.dirname(saved), { recursive: true });
  writeFileSync(saved, text);
  delete pkg.scripts.prepare;
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (step === 'postpack') {
  restore();
} else {
  process.stderr.write('usage: node scripts/pack.mjs prepack|postpack\n');
  process.exit(2);
}
