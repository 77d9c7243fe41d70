// `npm run bench`: every benchmark, one after the other. Not part of `npm test`.
import { spawnSync } from 'node:child_process';

console.log(`LocalPort benchmarks — ${new Date().toISOString()} — node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
for (const script of ['cold-start.mjs', 'time-to-healthy.mjs', 'kubectl-ready.mjs', 'recovery.mjs', 'shutdown.mjs', 'footprint.mjs', 'shared-master.mjs', 'ui.mjs', 'lazy-start.mjs', 'relay.mjs']) {
  const r = spawnSync(process.execPath, [new URL(script, import.meta.url).pathname], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
