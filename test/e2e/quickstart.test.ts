import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from '@jest/globals';
import { REPO } from '../helpers/guide.js';
import { tunnelsServing } from '../helpers/procs.js';

/** The README's quickstart: the first ```sh block under "## Quickstart", one command per line. */
function quickstartCommands(): string[][] {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Quickstart\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  return block
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
}

it('the README quickstart runs verbatim with nothing but Node on PATH: a tcp service comes up healthy, answers, and shows in status', async () => {
  const commands = quickstartCommands();
  // `npm install` is what set up this clone already; every command after it is run as written.
  expect(commands[0]).toEqual(['npm', 'install']);
  expect(commands.length).toBeGreaterThan(1);
  // PATH holds node and npm (and sh, which npm runs scripts with): no ssh, kubectl, curl or anything else.
  const bin = mkdtempSync(path.join(os.tmpdir(), 'lp-qs-bin-'));
  const state = mkdtempSync(path.join(os.tmpdir(), 'lp-qs-state-'));
  // npm as this machine has it (beside node, or elsewhere on PATH: a Node from the npm registry has none).
  const npm = [path.dirname(process.execPath), ...(process.env.PATH ?? '').split(path.delimiter)].map((d) => path.join(d, 'npm')).find((f) => existsSync(f))!;
  for (const [name, target] of [
    ['node', process.execPath],
    ['npm', npm],
    ['sh', '/bin/sh'],
  ]) {
    symlinkSync(target, path.join(bin, name));
  }
  try {
    for (const [cmd, ...args] of commands.slice(1)) {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile(cmd, args, { cwd: REPO, env: { HOME: process.env.HOME, PATH: bin, LOCALPORT_STATE_DIR: state }, timeout: 60000, encoding: 'utf8' }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
      expect({ cmd: [cmd, ...args].join(' '), code: r.code, stderr: r.code ? r.stderr : '' }).toEqual({ cmd: [cmd, ...args].join(' '), code: 0, stderr: '' });
      // The progress tree (plain lines off a terminal) is on stderr, the command's output on stdout.
      expect(r.stderr).toContain('demo-api: healthy on localhost:7780 (127.0.0.1:7781)');
      expect(r.stdout).toContain('GET http://localhost:7780/ → 200 hello from the demo API');
      // `localport status`, run by the command: the service, ready and healthy, with the request counted.
      expect(r.stdout).toMatch(/localport run \(pid \d+\) is running .*examples\/quickstart\/localport\.yaml/);
      expect(r.stdout).toMatch(/^demo-api\s+tcp\s+ready\s+http: healthy .*localhost:7780\s+127\.0\.0\.1:7781\s+\S+\s+0\s+\d\/[1-9]\d*\s+[1-9]\d*B\/[1-9]\d*B/m);
    }
    expect(tunnelsServing(7780)).toEqual([]);
  } finally {
    rmSync(bin, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
}, 90000);
