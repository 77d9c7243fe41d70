import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { subscribe } from '../../../app/control/client.js';

// The event stream's client against a daemon that, after accepting the subscription, sends lines that
// are JSON but no event: `localport events` read `.type` of a `null` and died with a stack.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-sub-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('passes on only objects: a null, a number, a string or a list on the stream is skipped', async () => {
  const socketPath = path.join(dir, 's');
  const server = net.createServer((c) => {
    c.once('data', (d) => {
      const { id } = JSON.parse(String(d)) as { id: number };
      c.write(`${JSON.stringify({ id, ok: true, result: { subscribed: true } })}\n`);
      c.end('null\n5\n"x"\n[1]\n{"v":1,"type":"ready","services":[]}\n');
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  const got: unknown[] = [];
  try {
    await subscribe(socketPath, [], (e) => got.push(e)).catch(() => undefined);
  } finally {
    server.close();
  }
  expect(got).toEqual([{ v: 1, type: 'ready', services: [] }]);
});
