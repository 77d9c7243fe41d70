import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { aliveCheck, closeForward, MuxError, openForward } from '../../../plugins/ssh/mux.js';

// The mux client's side of OpenSSH's PROTOCOL.mux, against a scripted master on a Unix socket: what it
// sends byte for byte, and how it takes the answers a master may give. A real master (ssh -M) is driven in
// test/integration/shared-ssh.test.ts.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-mux-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const pkt = (...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
};
const str = (s: string) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
const HELLO = pkt(u32(1), u32(4));

/** A master that greets with `hello`, records the client's packets and answers the request with `reply(id)`. */
async function master(reply: (requestId: number) => Buffer | null, hello = HELLO): Promise<{ path: string; packets: Buffer[]; close(): Promise<void> }> {
  const file = path.join(dir, `m${++n}`);
  const packets: Buffer[] = [];
  const server = net.createServer((socket) => {
    socket.write(hello);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const body = buf.subarray(4, 4 + buf.readUInt32BE(0));
        buf = buf.subarray(4 + body.length);
        packets.push(body);
        if (body.readUInt32BE(0) !== 1) {
          const answer = reply(body.readUInt32BE(4));
          if (answer) socket.write(answer);
          else socket.destroy();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(file, r));
  return { path: file, packets, close: () => new Promise((r) => server.close(() => r())) };
}

const forward = { listenPath: '/run/lp/1.sock', host: 'db.internal', port: 5432 };

it('adds a local forward from a Unix socket: hello, then MUX_C_OPEN_FWD with PORT_STREAMLOCAL, and takes MUX_S_OK', async () => {
  const m = await master((id) => pkt(u32(0x80000001), u32(id)));
  await openForward(m.path, forward);
  expect(m.packets[0]).toEqual(Buffer.concat([u32(1), u32(4)]));
  expect(m.packets[1]).toEqual(Buffer.concat([u32(0x10000006), u32(1), u32(1), str('/run/lp/1.sock'), u32(0xfffffffe), str('db.internal'), u32(5432)]));
  await closeForward(m.path, forward);
  expect(m.packets[3].readUInt32BE(0)).toBe(0x10000007);
  await m.close();
});

it("reports the master's refusal with its reason", async () => {
  const m = await master((id) => pkt(u32(0x80000003), u32(id), str('Port forwarding failed')));
  await expect(openForward(m.path, forward)).rejects.toMatchObject({ code: 'FAILED', message: 'adding the forward: Port forwarding failed' });
  await m.close();
});

it('refuses a master of another protocol version, a reply to another request, and a master that hangs up', async () => {
  const v3 = await master(() => null, pkt(u32(1), u32(3)));
  await expect(openForward(v3.path, forward)).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/version 3, not 4/) });
  const wrongId = await master((id) => pkt(u32(0x80000001), u32(id + 7)));
  await expect(openForward(wrongId.path, forward)).rejects.toMatchObject({ code: 'PROTOCOL' });
  const hangsUp = await master(() => null);
  await expect(openForward(hangsUp.path, forward)).rejects.toMatchObject({ code: 'CLOSED' });
  const huge = await master(() => Buffer.concat([u32(10_000_000), u32(0)]));
  await expect(openForward(huge.path, forward)).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/bad packet length/) });
  await Promise.all([v3.close(), wrongId.close(), hangsUp.close(), huge.close()]);
});

it('says when there is no master, and gives up on one that never answers', async () => {
  await expect(openForward(path.join(dir, 'none'), forward)).rejects.toMatchObject({ code: 'ENOENT' });
  const silent = await master(() => Buffer.alloc(0));
  const abort = AbortSignal.timeout(200);
  await expect(openForward(silent.path, forward, abort)).rejects.toBeInstanceOf(MuxError);
  await silent.close();
});

it("reads the master's pid from an alive check", async () => {
  const m = await master((id) => pkt(u32(0x80000005), u32(id), u32(4242)));
  expect(await aliveCheck(m.path)).toBe(4242);
  await m.close();
});

it('keeps at most 32 requests in flight at once per master, well under its listen backlog of 64; the rest wait their turn', async () => {
  let open = 0;
  let most = 0;
  const file = path.join(dir, `busy${++n}`);
  // A master that answers each request 20 ms late, counting the requests waiting for an answer at once.
  const server = net.createServer((socket) => {
    socket.write(HELLO);
    socket.on('data', (chunk) => {
      const at = chunk.indexOf(u32(0x10000006));
      if (at < 0) return;
      open += 1;
      most = Math.max(most, open);
      setTimeout(() => {
        open -= 1;
        socket.write(pkt(u32(0x80000001), u32(chunk.readUInt32BE(at + 4))));
      }, 20);
    });
  });
  await new Promise<void>((r) => server.listen(file, r));
  const all = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => openForward(file, { ...forward, listenPath: `/run/lp/${i}.sock` })));
  expect(all.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(most).toBeGreaterThan(1);
  expect(most).toBeLessThanOrEqual(32);
  await new Promise((r) => server.close(r));
});
