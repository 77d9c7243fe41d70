import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ServiceLog } from '../../../core/log.js';
import { Redactor } from '../../../core/redact.js';
import { ForwardProcess } from '../../../core/supervisor/ForwardProcess.js';
import { whenReady } from '../../../core/supervisor/readiness.js';
import type { ExitInfo, ForwardSpec } from '../../../core/types.js';
import { FAKE_TUNNEL } from '../../helpers/fake-tech.js';
import { freePort } from '../../helpers/net.js';
import { alive, descendants, waitUntil } from '../../helpers/procs.js';

// The process half of a service, on its own: no state machine, no hub. The tunnel is the real child
// process test/fixtures/fake-tunnel.mjs, behind the forking wrapper where a group matters.

const FORKING_WRAPPER = fileURLToPath(new URL('../../fixtures/forking-wrapper.sh', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-fwd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const silent = { debug() {}, info() {}, warn() {}, error() {} };
let logs = 0;
const make = (spec: ForwardSpec) => {
  const errors: string[] = [];
  const log = new ServiceLog(path.join(dir, `fwd-${++logs}.log`), new Redactor());
  const forward = new ForwardProcess(spec, { log, logger: silent, service: 'a', technology: 'fake', internalError: (where) => errors.push(where) });
  return { forward, log, errors };
};
const tunnel = (port: number, mode = 'ok', command = process.execPath, pre: string[] = []): ForwardSpec => ({
  command,
  args: [...pre, ...(pre.length ? [process.execPath] : []), FAKE_TUNNEL, String(port), mode],
  ready: { output: /^LISTENING / },
});

describe('ForwardProcess', () => {
  it('never keeps part of a secret where a long line is cut, in its log, its lines or its exit output', async () => {
    const secret = 'Sup3rSecretValueQ';
    const redactor = new Redactor();
    redactor.add(secret);
    const log = new ServiceLog(path.join(dir, 'cut.log'), redactor);
    // Lines of 8 KiB minus k bytes of x, then the secret: the 8 KiB cut goes through it for every k below its length.
    const script = `for (let k = 0; k <= ${secret.length}; k++) console.log('x'.repeat(8192 - k) + ${JSON.stringify(secret)});`;
    const forward = new ForwardProcess({ command: process.execPath, args: ['-e', script], ready: { output: /never/ } }, { log, logger: silent, service: 'a', technology: 'fake', internalError: () => {} });
    const lines: string[] = [];
    forward.onLine((l) => lines.push(l));
    const exited = new Promise<ExitInfo>((resolve) => forward.onExit(resolve));
    await forward.start();
    const info = await exited;
    await log.close();
    expect(lines).toHaveLength(secret.length + 1);
    // Whole lines reach listeners as printed (a ready pattern may need them; output is redacted where
    // it is shown); a cut one, and the log, never hold a piece of the secret.
    const cut = lines.filter((l) => l.endsWith(' …'));
    expect(cut).toHaveLength(secret.length);
    const hasPiece = (text: string) => [...Array(secret.length - 2).keys()].some((i) => text.includes(secret.slice(0, i + 3)));
    expect(cut.filter(hasPiece)).toEqual([]);
    expect(hasPiece(readFileSync(log.file, 'utf8'))).toBe(false);
    void info;
  });

  it('reports its lines and becomes ready by its output rule, then stops its whole process group', async () => {
    const port = await freePort();
    const { forward, log } = make(tunnel(port, 'ok', '/bin/sh', [FORKING_WRAPPER]));
    const lines: string[] = [];
    forward.onLine((l) => lines.push(l));
    await forward.start();
    const outcome = await whenReady(forward, { rule: { output: /^LISTENING / }, endpoint: { host: '127.0.0.1', port }, signal: new AbortController().signal });
    expect(outcome).toEqual({ ready: true });
    expect(lines).toEqual([`LISTENING ${port}`]);
    const wrapper = forward.pid!;
    const [forwarder] = descendants(wrapper);
    expect(alive(forwarder)).toBe(true);
    const exited = new Promise<ExitInfo>((resolve) => forward.onExit(resolve));
    await forward.stop();
    expect(alive(wrapper)).toBe(false);
    expect(alive(forwarder)).toBe(false);
    expect((await exited).output.split('\n')[0]).toBe(`LISTENING ${port}`);
    expect(forward.pid).toBeNull();
    await log.close();
    const written = readFileSync(log.file, 'utf8');
    expect(written).toMatch(/spawn \/bin\/sh /);
    expect(written).toMatch(/LISTENING \d+\n[^]*exit /);
  });

  it('ends a wait for readiness with the exit, and says how it ended', async () => {
    const port = await freePort();
    const { forward } = make(tunnel(port, 'fail'));
    await forward.start();
    const outcome = await whenReady(forward, { rule: { output: /^LISTENING / }, endpoint: { host: '127.0.0.1', port }, signal: new AbortController().signal });
    expect(outcome).toMatchObject({ exited: { exitCode: 3, stderr: 'fake-tunnel: remote refused the forward' } });
    // An exit listener added afterwards still hears it, at once.
    let heard: unknown;
    forward.onExit((info) => (heard = info));
    expect(heard).toMatchObject({ exitCode: 3 });
  });

  it('ends a wait for readiness at the start timeout, or when it is aborted', async () => {
    const port = await freePort();
    const { forward } = make(tunnel(port, 'hang'));
    await forward.start();
    const t0 = Date.now();
    expect(await whenReady(forward, { rule: { port: true }, endpoint: { host: '127.0.0.1', port }, signal: new AbortController().signal, timeoutMs: 300 })).toEqual({ timeout: true });
    expect(Date.now() - t0).toBeLessThan(2000);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    expect(await whenReady(forward, { rule: { output: /^LISTENING / }, endpoint: { host: '127.0.0.1', port }, signal: abort.signal })).toEqual({ aborted: true });
    const pid = forward.pid!;
    await forward.stop();
    await waitUntil(() => !alive(pid), 3000, 'the hung tunnel stopped');
  });
});
