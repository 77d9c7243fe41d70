import net from 'node:net';
import { Duplex } from 'node:stream';
import { expect, it } from '@jest/globals';
import { connectCheck, tcpConfigSchema } from '../../../plugins/health-tcp/index.js';

// The tcp check through a tunnel watches its connection briefly: a tunnel (ssh, kubectl) accepts at its own
// end and closes the connection at once when the target behind it refuses. Real sockets on loopback stand
// for the tunnel's end here; the ssh case is test/integration/shared-ssh.test.ts.

async function server(onConnection: (s: net.Socket) => void): Promise<{ connect(): Promise<Duplex>; close(): Promise<void> }> {
  const srv = net.createServer(onConnection);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  return {
    connect: () => new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    }),
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

it('passes a silent target and one that speaks first; fails a tunnel that closes at once with no byte', async () => {
  const silent = await server(() => {});
  const speaks = await server((s) => s.write('SSH-2.0-hello\r\n'));
  const refused = await server((s) => setTimeout(() => s.destroy(), 5));
  try {
    expect(await connectCheck(silent.connect, 2000, undefined, 50)).toMatchObject({ ok: true });
    expect(await connectCheck(speaks.connect, 2000, undefined, 50)).toMatchObject({ ok: true, message: expect.stringMatching(/speaks first/) });
    expect(await connectCheck(refused.connect, 2000, undefined, 50)).toMatchObject({ ok: false, kind: 'service_down', message: expect.stringMatching(/closed it at once/) });
    // Not watched (linger 0): the same close goes unnoticed, which is what the window is for.
    expect(await connectCheck(refused.connect, 2000, undefined, 0)).toMatchObject({ ok: true });
  } finally {
    await Promise.all([silent.close(), speaks.close(), refused.close()]);
  }
});

it('takes linger as a duration up to 5 s', () => {
  expect(tcpConfigSchema.parse({ linger: '200ms' })).toEqual({ linger: 0.2 });
  expect(tcpConfigSchema.parse({ linger: 0 })).toEqual({ linger: 0 });
  expect(tcpConfigSchema.safeParse({ linger: '10s' }).success).toBe(false);
});
