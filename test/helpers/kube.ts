import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('../peers/fake-kube-api.cjs', import.meta.url));

export interface FakeKubeConfig {
  services?: { namespace: string; name: string; selector: Record<string, string>; ports: { port: number; targetPort?: number }[] }[];
  deployments?: { namespace: string; name: string; selector: Record<string, string> }[];
  pods: { namespace: string; name: string; labels: Record<string, string>; phase?: string; targets: Record<string, number> }[];
}

export interface FakeKube {
  port: number;
  /** A fresh HOME (kubectl's dispatcher caches per HOME) holding the kubeconfig. */
  home: string;
  kubeconfig: string;
  /** Environment for anything that runs kubectl against this server. */
  env: Record<string, string>;
  /** The pod dies: its port-forward streams drop, a replacement pod comes up. Returns the new name. */
  killPod(namespace: string, name: string): Promise<string>;
  setPhase(namespace: string, name: string, phase: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts test/peers/fake-kube-api.cjs — a stand-in for the Kubernetes API server (there is no cluster
 * here) that the real kubectl talks to — and writes a kubeconfig with context `fake` for it.
 */
export async function startFakeKube(config: FakeKubeConfig): Promise<FakeKube> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'lp-kube-'));
  const cfg = path.join(home, 'fake.json');
  writeFileSync(cfg, JSON.stringify({ services: [], deployments: [], ...config }));
  const child: ChildProcess = spawn(process.execPath, [SERVER, cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`fake API server did not start: ${out}`)), 5000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`fake API server exited ${code}: ${out}`)));
  });
  child.stdout!.resume();
  mkdirSync(path.join(home, '.kube'), { recursive: true });
  const kubeconfig = path.join(home, '.kube', 'config');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: { server: "http://127.0.0.1:${port}" }
contexts:
- name: fake
  context: { cluster: fake, user: fake, namespace: default }
current-context: fake
users:
- name: fake
  user: { token: fake-token }
`,
  );
  const control = async (what: string, q: Record<string, string>) => {
    const res = await fetch(`http://127.0.0.1:${port}/__fake/${what}?${new URLSearchParams(q)}`, { method: 'POST' });
    if (!res.ok) throw new Error(`fake API control ${what} failed: ${await res.text()}`);
    return (await res.json()) as Record<string, string>;
  };
  return {
    port,
    home,
    kubeconfig,
    env: { HOME: home, KUBECONFIG: kubeconfig },
    killPod: async (namespace, name) => (await control('kill', { namespace, name })).replacement,
    setPhase: async (namespace, name, phase) => {
      await control('phase', { namespace, name, phase });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
