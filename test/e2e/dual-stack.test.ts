import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { startFakeKube, type FakeKube } from '../helpers/kube.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { CURL, describeWithPeer, hasCurl, hasKubectl, hasSshd } from '../helpers/peers.js';
import { sshTunnels, tunnelsServing } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// Issue #12, acceptance 2: with default settings (no bind_address), `curl http://[::1]:PORT/` and
// `curl http://127.0.0.1:PORT/` both work, for an ssh service (real sshd) and a kubectl service (the real
// kubectl against test/peers/fake-kube-api.cjs), a real HTTP server behind each. The built CLI runs
// the real curl, once per address: `localport run -- curl …`.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-dual-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const BODY = 'answered on both stacks';

function project(services: string): string {
  const dir = mkdtempSync(path.join(root, 'p-'));
  writeFileSync(path.join(dir, 'localport.yaml'), `services:\n${services}`);
  return dir;
}

/**
 * `localport run -- curl URL` for each address, one run each: what a user does. `-q` ignores a
 * ~/.curlrc; `-g` leaves the brackets of an IPv6 literal alone; `-w` names the address curl reached.
 */
async function curlBothStacks(dir: string, local: number, env: NodeJS.ProcessEnv): Promise<void> {
  for (const [url, ip] of [
    [`http://[::1]:${local}/`, '::1'],
    [`http://127.0.0.1:${local}/`, '127.0.0.1'],
  ]) {
    const r = await runCli(['run', '--', CURL!, '-q', '-g', '-sS', '--fail', '--max-time', '10', '-w', '\n%{remote_ip} %{http_code}', url], { cwd: dir, env, timeoutMs: 30000 });
    expect({ url, stdout: r.stdout, code: r.code }).toEqual({ url, stdout: `${BODY}\n${ip} 200`, code: 0 });
  }
  expect(tunnelsServing(local)).toEqual([]);
}

describeWithPeer('curl + OpenSSH sshd', hasCurl && hasSshd, 'curl on 127.0.0.1 and [::1] through an ssh service', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  beforeAll(async () => {
    [sshd, web] = await Promise.all([startSshd(), startHttpServer(BODY)]);
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
  });

  it('both answer, with default settings', async () => {
    const local = await freePort();
    const c = sshConnection(sshd);
    const dir = project(
      `  - name: web\n    technology: ssh\n    local_port: ${local}\n    remote_port: ${web.port}\n` +
        `    connection: { host: 127.0.0.1, port: ${c.port}, user: ${c.user}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: 127.0.0.1 }\n`,
    );
    await curlBothStacks(dir, local, { LOCALPORT_STATE_DIR: path.join(root, 'state-ssh') });
    expect(sshTunnels(local, sshd.port)).toEqual([]);
  }, 60000);
});

describeWithPeer('curl + kubectl', hasCurl && hasKubectl, 'curl on 127.0.0.1 and [::1] through a kubectl service', () => {
  let kube: FakeKube;
  let web: HttpPeer;
  beforeAll(async () => {
    web = await startHttpServer(BODY);
    kube = await startFakeKube({
      services: [{ namespace: 'default', name: 'web', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }],
      pods: [{ namespace: 'default', name: 'web-0', labels: { app: 'web' }, targets: { '8080': web.port } }],
    });
  }, 30000);
  afterAll(async () => {
    await Promise.all([kube?.stop(), web?.close()]);
  });

  it('both answer, with default settings', async () => {
    const local = await freePort();
    const dir = project(`  - name: web\n    technology: kubectl\n    local_port: ${local}\n    remote_port: 80\n    connection: { resource_name: web, context: fake }\n`);
    await curlBothStacks(dir, local, { LOCALPORT_STATE_DIR: path.join(root, 'state-kube'), ...kube.env });
  }, 60000);
});
