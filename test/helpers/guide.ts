import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The plugin guide as a user copies it: docs/examples/*.ts and the README's TypeScript blocks, read from
// the files themselves so that the docs and the tests cannot drift apart.

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = path.join(REPO, 'docs', 'examples');

export interface CodeBlock {
  /** The README line of the opening fence. */
  line: number;
  text: string;
}

/** Every ```ts block of the README, in order. */
export function readmeTsBlocks(): CodeBlock[] {
  const lines = readFileSync(path.join(REPO, 'README.md'), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  let open: CodeBlock | undefined;
  lines.forEach((l, i) => {
    if (open) {
      if (l.startsWith('```')) {
        blocks.push(open);
        open = undefined;
      } else open.text += `${l}\n`;
    } else if (/^```(ts|typescript)\s*$/.test(l)) open = { line: i + 1, text: '' };
  });
  return blocks;
}

/** A block is a whole file when it imports or exports; the others are fragments of a config. */
export const isModule = (b: CodeBlock) => /^(import|export)\s/m.test(b.text);

/**
 * Writes the guide into `dir/src`: each example under its own name (the README imports them by those names)
 * and each whole-file README block as readme-line-N.ts. Returns file name → where it came from.
 */
export function writeGuide(dir: string): Map<string, string> {
  const src = path.join(dir, 'src');
  mkdirSync(src, { recursive: true });
  const origin = new Map<string, string>();
  for (const f of readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts'))) {
    writeFileSync(path.join(src, f), readFileSync(path.join(EXAMPLES, f)));
    origin.set(f, `docs/examples/${f}`);
  }
  for (const b of readmeTsBlocks().filter(isModule)) {
    const f = `readme-line-${b.line}.ts`;
    writeFileSync(path.join(src, f), b.text);
    origin.set(f, `the README block at line ${b.line}`);
  }
  return origin;
}

/**
 * A user's TypeScript project around the guide: ESM, and what `tsc --init` writes (TypeScript 6: module and
 * moduleResolution nodenext, strict, verbatimModuleSyntax, …) with Node's types, which a plugin needs, and no
 * output. Left out of --init's set: noUncheckedIndexedAccess and exactOptionalPropertyTypes, which LocalPort's
 * own tsconfig does not promise either.
 */
export function writeUserProject(dir: string, name = 'my-localport-plugins') {
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  const compilerOptions = {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'esnext',
    types: ['node'],
    noEmit: true,
    strict: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    noUncheckedSideEffectImports: true,
    moduleDetection: 'force',
    skipLibCheck: true,
  };
  writeFileSync(path.join(dir, 'tsconfig.json'), `${JSON.stringify({ compilerOptions, include: ['src'] }, null, 2)}\n`);
}

/** `node_modules/@types/node` of the user's project: this repository's copy (a plugin author installs it). */
export function linkNodeTypes(dir: string) {
  mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(path.join(REPO, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'), 'dir');
}

/** Runs this repository's tsc on the project; resolves with its exit code and output. */
export function typecheck(dir: string): Promise<{ code: number; output: string }> {
  const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { cwd: dir, timeout: 60000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}
