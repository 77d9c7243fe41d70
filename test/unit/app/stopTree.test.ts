import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { withStopTree } from '../../../app/stopTree.js';
import { SHUTDOWN_PHASES } from '../../../core/supervisor/shutdown.js';
import { Redactor } from '../../../core/redact.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-stoptree-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A control socket that answers `subscribe` and then sends what the test says, as the daemon does:
 * one JSON object per line. `close` ends the stream.
 */
async function fakeDaemon(socket: string) {
  let client: net.Socket | undefined;
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const server = net.createServer((c) => {
    client = c;
    c.setEncoding('utf8').once('data', (line: string) => {
      c.write(`${JSON.stringify({ id: JSON.parse(line).id, ok: true, result: null })}\n`);
      subscribed();
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    ready,
    send: (event: object) => client!.write(`${JSON.stringify({ v: 1, time: new Date().toISOString(), ...event })}\n`),
    close: () => new Promise<void>((resolve) => (client!.end(), server.close(() => resolve()))),
  };
}

it("daemon stop's tree: no phase lasts longer than the whole stop, even when the stream ends after the daemon is gone", async () => {
  const socket = path.join(dir, 'd.sock');
  const daemon = await fakeDaemon(socket);
  const lines: string[] = [];
  const write = process.stderr.write;
  // Off a terminal (jest's stderr), listr2 prints one line per finished phase, with its final title.
  process.stderr.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
  let total = 0;
  try {
    await withStopTree({
      socket,
      kind: 'daemon',
      running: ['api'],
      title: 'stopping the daemon',
      redactor: new Redactor(),
      act: async () => {
        // As stopDaemon: the clock starts before the request; the phases follow; the process is gone.
        const t0 = Date.now();
        await daemon.ready;
        for (const { phase } of SHUTDOWN_PHASES) {
          daemon.send({ type: 'shutdown', phase });
          await new Promise((r) => setTimeout(r, 10));
        }
        daemon.send({ type: 'state', service: 'api', from: 'ready', to: 'stopped' });
        total = Date.now() - t0;
        // The stream's end reaches this client only later (a busy event loop, a late FIN).
        setTimeout(() => void daemon.close(), 150);
        return total;
      },
    });
  } finally {
    process.stderr.write = write;
  }
  const out = lines.join('');
  const ms = SHUTDOWN_PHASES.map(({ phase }) => Number(new RegExp(`${phase}(?:: [^\\n]*?)? — done in (\\d+) ms`).exec(out)?.[1]));
  expect(ms.every(Number.isFinite)).toBe(true);
  expect(Math.max(...ms)).toBeLessThanOrEqual(total);
  expect(ms.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total);
}, 10_000);
