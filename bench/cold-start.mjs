// CLI cold start: `localport --help` against bare `node -e 0`, on this machine, N runs each.
import { BIN, printTable, timeCommand } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 15);
const rows = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'localport --help', args: [BIN, '--help'] },
  { name: 'localport --version', args: [BIN, '--version'] },
];
for (const r of rows) {
  r.samples = [];
  await timeCommand(process.execPath, r.args); // warm the file cache
  for (let i = 0; i < N; i++) r.samples.push(await timeCommand(process.execPath, r.args));
}
printTable(`Cold start (${N} runs each)`, rows);
