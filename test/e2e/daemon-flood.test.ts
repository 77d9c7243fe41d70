import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect, it } from '@jest/globals';
import { stopProjects } from '../helpers/daemons.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { alive, waitUntil } from '../helpers/procs.js';

// A client of the control socket that pipelines requests and never reads the replies must not make
// the daemon buffer them: the daemon stops reading that connection while its replies are not taken,
// and keeps serving everyone else. The daemon is the built CLI's; its tunnel is fake-tunnel.mjs.

const FAKE_TUNNEL = fileURLToPath(new URL('../fixtures/fake-tunnel.mjs', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-flood-'));
const started: { dir: string; env: NodeJS.ProcessEnv }[] = [];

afterEach(() => stopProjects(started));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MB = 1024 * 1024;
const rss = (pid: number) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
/** CPU seconds the process has used (utime + stime). */
const cpu = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line sent on a fresh connection, and the first reply line. */
function ask(socket: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let out = '';
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no reply to ${payload.slice(0, 40)} within 5 s`))), 5000);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      out += d;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      s.destroy();
      resolve(out.slice(0, out.indexOf('\n')));
    });
    s.on('error', reject);
    s.write(payload);
  });
}

it('a client pipelining 200,000 requests without reading neither bloats the daemon nor starves other clients', async () => {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  started.push({ dir, env });
  const tunnel = { command: process.execPath, args: [FAKE_TUNNEL, '{localPort}', 'ok'], ready_pattern: 'LISTENING' };
  writeFileSync(path.join(dir, 'localport.yaml'), `services:\n  - name: web\n    technology: exec\n    local_port: ${await freePort()}\n    remote_port: 80\n    connection: ${JSON.stringify(tunnel)}\n`);
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 20_000 });
  expect((await cli('start', '--all')).code).toBe(0);
  const { pid, socket } = JSON.parse((await cli('daemon', 'status', '--json')).stdout) as { pid: number; socket: string };
  const status = async () => {
    const t0 = Date.now();
    const r = await cli('status', '--output', 'json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ runner: { pid }, services: [{ name: 'web' }] });
    return Date.now() - t0;
  };
  await status();
  const before = rss(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 50);

  try {
    // 200,000 requests (6.6 MB) in one write; the flooder reads nothing yet.
    const flood = net.connect(socket);
    flood.on('error', () => {});
    await once(flood, 'connect');
    flood.write(Array.from({ length: 200_000 }, (_, id) => `{"id":${id},"method":"status"}\n`).join(''));

    // Meanwhile another client is answered promptly, again and again.
    for (let i = 0; i < 3; i++) {
      await sleep(500);
      expect(await status()).toBeLessThan(4000);
    }
    await sleep(500);
    expect((peak - before) / MB).toBeLessThan(60);
    // The daemon stopped reading: most of the flood is still on the flooder's side.
    expect(flood.writableLength).toBeGreaterThan(1 * MB);

    // Paused, not dropped: once the flooder reads, its requests are answered, each once, none skipped
    // (up to the few handled at a time).
    const ids: number[] = [];
    let text = '';
    flood.setEncoding('utf8');
    flood.on('data', (d: string) => {
      text += d;
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const l of lines) {
        const r = JSON.parse(l) as { id: number };
        expect(r).toMatchObject({ ok: true, result: { runner: { pid } } });
        ids.push(r.id);
      }
    });
    await waitUntil(() => ids.length >= 5000, 10_000, '5000 replies to the flooder');
    flood.destroy();
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.max(...ids)).toBeLessThan(ids.length + 4);

    // Gone with the flooder: what it had queued is dropped, and the daemon is idle and well.
    await sleep(300);
    const cpu0 = cpu(pid);
    await sleep(1000);
    expect(cpu(pid) - cpu0).toBeLessThan(0.3);
    expect(await status()).toBeLessThan(4000);
    expect(JSON.parse(await ask(socket, 'garbage\n'))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(JSON.parse(await ask(socket, '{"id":7,"method":"ping"}\n'))).toEqual({ id: 7, ok: true, result: { pid } });
    expect((peak - before) / MB).toBeLessThan(60);
    expect(alive(pid)).toBe(true);
  } finally {
    clearInterval(sampler);
  }
}, 30_000);
