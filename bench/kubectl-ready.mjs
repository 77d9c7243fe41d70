// Time until one kubectl forward is ready, against bare `kubectl port-forward` started by hand — both
// the machine's real kubectl through the same stand-in API server (test/peers/fake-kube-api.cjs), an
// HTTP server as the pod. Ready = an HTTP request through the forward succeeds, from spawn.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { peers, printTable, superviseOne, untilHttp, httpOk } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 10);
const { hasKubectl } = await peers.bins();
if (!hasKubectl) {
  console.log('\nkubectl ready: SKIPPED — kubectl is not installed');
  process.exit(0);
}
const { startFakeKube } = await peers.kube();
const { startHttpServer, freePort } = await peers.net();
const web = await startHttpServer('pod');
const kube = await startFakeKube({
  services: [{ namespace: 'default', name: 'web', selector: { app: 'web' }, ports: [{ port: 80 }] }],
  pods: [{ namespace: 'default', name: 'web-0', labels: { app: 'web' }, targets: { '80': web.port } }],
});
Object.assign(process.env, kube.env);
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-kube-'));
process.env.LOCALPORT_STATE_DIR = dir;

const bare = [];
const lib = [];
try {
  for (let i = 0; i < N; i++) {
    let port = await freePort();
    let t0 = process.hrtime.bigint();
    const kc = spawn('kubectl', ['port-forward', 'service/web', `${port}:80`, '--address=127.0.0.1'], { stdio: 'ignore' });
    bare.push(await untilHttp(port, t0, kc));
    kc.kill('SIGTERM');
    await new Promise((r) => kc.once('exit', r));

    port = await freePort();
    const { sup, service } = await superviseOne({ name: 'web', technology: 'kubectl', local_port: port, remote_port: 80, connection: { resource_name: 'web' } });
    t0 = process.hrtime.bigint();
    await service.start();
    if (!(await httpOk(port))) throw new Error('LocalPort said ready but the forward did not answer');
    lib.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await sup.stopAll();
  }
} finally {
  await kube.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`kubectl forward ready, spawn → first HTTP answer, real kubectl via the stand-in API server (${N} runs each)`, [
  { name: 'bare kubectl port-forward (polled every 2 ms)', samples: bare },
  { name: 'LocalPort supervisor start()', samples: lib },
]);
