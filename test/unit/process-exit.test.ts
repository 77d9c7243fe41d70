/**
 * Only the two entry points end the process: cli/main.ts and daemon/main.ts. Everything below them
 * returns an exit code or an outcome (a shutdown resolves, it never exits), so it can be tested
 * in-process and no teardown is skipped by an exit half-way.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY_POINTS = ['cli/main.ts', 'daemon/main.ts'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** `file:line` of every call of `process.exit` (or `process.exit?.`, `process['exit']`) in `text`. */
export function exitCalls(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isElementAccessExpression(callee) && ts.isStringLiteral(callee.argumentExpression) ? callee.argumentExpression.text : undefined;
      const object = ts.isPropertyAccessExpression(callee) || ts.isElementAccessExpression(callee) ? callee.expression : undefined;
      if (name === 'exit' && object && ts.isIdentifier(object) && object.text === 'process') {
        out.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe('process.exit', () => {
  it('is called only in the entry points (cli/main.ts, daemon/main.ts)', () => {
    const calls = ['core', 'plugins', 'presets', 'app', 'daemon', 'cli']
      .flatMap(sources)
      .filter((f) => !ENTRY_POINTS.includes(f))
      .flatMap((f) => exitCalls(f, readFileSync(path.join(ROOT, f), 'utf8')));
    expect(calls).toEqual([]);
  });

  it('the check finds calls, not mentions in strings or comments', () => {
    const text = [
      '// process.exit(1) in a comment',
      'const s = `called process.exit(${code})`;',
      'process.exit(2);',
      "if (x) process['exit'](3);",
      'process.exit?.();',
    ].join('\n');
    expect(exitCalls('x.ts', text)).toEqual(['x.ts:3', 'x.ts:4', 'x.ts:5']);
  });
});
