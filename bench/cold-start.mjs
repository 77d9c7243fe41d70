// CLI cold start: `localport --help`, `--version` and `status` (no daemon running) against bare
// `node -e 0`, on this machine, N runs each. Goal (issue #12): `--help` and `status` not slower than
// before. With BENCH_BEFORE_BIN=<an earlier build's dist/cli/bin.js>, that build is timed in the same run
// too, interleaved; the ratios against bare node are also compared with the README's previous figures.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, printTable, stats, timeCommand } from './lib.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-cold-'));
writeFileSync(path.join(dir, 'localport.yaml'), 'services:\n  - name: db\n    technology: ssh\n    local_port: 15432\n    remote_port: 5432\n    connection: { host: bastion }\n');
const opts = { cwd: dir, env: { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') } };

const N = Number(process.env.BENCH_RUNS ?? 15);
const BEFORE = process.env.BENCH_BEFORE_BIN;
const commands = [
  ['--help', ['--help']],
  ['--version', ['--version']],
  ['status (no daemon)', ['status']],
  ['config validate', ['config', 'validate']],
];
const rows = [{ name: 'node -e 0', args: ['-e', '0'] }];
for (const [name, args] of commands) {
  rows.push({ name: `localport ${name}`, args: [BIN, ...args], key: name });
  if (BEFORE) rows.push({ name: `  before: localport ${name}`, args: [BEFORE, ...args], before: name });
}
for (const r of rows) {
  r.samples = [];
  await timeCommand(process.execPath, r.args, opts); // warm the file cache
}
// Round-robin, so a burst of load elsewhere hits every row alike.
for (let i = 0; i < N; i++) for (const r of rows) r.samples.push(await timeCommand(process.execPath, r.args, opts));
rmSync(dir, { recursive: true, force: true });
printTable(`Cold start (${N} runs each${BEFORE ? `; "before": ${BEFORE}` : ''})`, rows);

// The README's figures before the front (2026-11-22): median ratio against `node -e 0` in the same run.
const PREVIOUS = { '--help': 1.89, 'status (no daemon)': 3.46 };
const node = stats(rows[0].samples).median;
for (const [name, previous] of Object.entries(PREVIOUS)) {
  const now = stats(rows.find((r) => r.key === name).samples).median;
  const before = rows.find((r) => r.before === name);
  const vsBefore = before ? ` ; ${(now / stats(before.samples).median).toFixed(2)}× the earlier build in this run (${stats(before.samples).median.toFixed(1)} ms)` : '';
  // 5 %: the spread of these medians between runs on an idle machine.
  const ok = before ? now <= stats(before.samples).median * 1.05 : now / node <= previous * 1.05;
  console.log(`Goal: localport ${name} not slower than before — ${now.toFixed(1)} ms, ${(now / node).toFixed(2)}× node (README before: ${previous}×)${vsBefore} — ${ok ? 'met' : 'MISSED'} (5 % noise allowed)`);
}
