// CLI cold start: `localport --help`, `--version` and `status` (no daemon running) against bare
// `node -e 0`, on this machine, N runs each.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, printTable, timeCommand } from './lib.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-cold-'));
writeFileSync(path.join(dir, 'localport.yaml'), 'services:\n  - name: db\n    technology: ssh\n    local_port: 15432\n    remote_port: 5432\n    connection: { host: bastion }\n');
const opts = { cwd: dir, env: { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') } };

const N = Number(process.env.BENCH_RUNS ?? 15);
const rows = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'localport --help', args: [BIN, '--help'] },
  { name: 'localport --version', args: [BIN, '--version'] },
  { name: 'localport status (no daemon)', args: [BIN, 'status'] },
  { name: 'localport config validate', args: [BIN, 'config', 'validate'] },
];
for (const r of rows) {
  r.samples = [];
  await timeCommand(process.execPath, r.args, opts); // warm the file cache
  for (let i = 0; i < N; i++) r.samples.push(await timeCommand(process.execPath, r.args, opts));
}
rmSync(dir, { recursive: true, force: true });
printTable(`Cold start (${N} runs each)`, rows);
