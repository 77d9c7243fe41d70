// Part of the build: writes the command list `localport --help` prints, plain and coloured, next to
// dist/cli/bin.js, which serves it without loading the CLI. It is the CLI's own output, so the two never differ.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
for (const [file, color] of [['help.txt', { NO_COLOR: '1' }], ['help.color.txt', { FORCE_COLOR: '1' }]]) {
  const env = { ...process.env, ...color };
  if (!color.NO_COLOR) delete env.NO_COLOR;
  const text = execFileSync(process.execPath, [main, '--help'], { env, encoding: 'utf8' });
  writeFileSync(fileURLToPath(new URL(`../dist/cli/${file}`, import.meta.url)), text);
}
