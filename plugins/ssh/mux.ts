import net from 'node:net';

/**
 * A client of OpenSSH's multiplexing protocol (PROTOCOL.mux in OpenSSH's source), the one `ssh -O
 * forward` speaks to a ControlMaster: it adds and removes a forward on a running master in a few
 * hundred microseconds, with no ssh process per forward. Each request opens its own connection to the
 * control socket, as `ssh -O` does.
 */

const MUX_MSG_HELLO = 0x00000001;
const MUX_C_ALIVE_CHECK = 0x10000004;
const MUX_C_OPEN_FWD = 0x10000006;
const MUX_C_CLOSE_FWD = 0x10000007;
const MUX_S_OK = 0x80000001;
const MUX_S_PERMISSION_DENIED = 0x80000002;
const MUX_S_FAILURE = 0x80000003;
const MUX_S_ALIVE = 0x80000005;
const MUX_FWD_LOCAL = 1;
/** A listen or connect "port" that says the host is a Unix socket path. */
const PORT_STREAMLOCAL = 0xfffffffe;
const MUX_VERSION = 4;
/** A reply larger than this is no mux master's. */
const MAX_PACKET = 256 * 1024;
/**
 * Control connections open at once per master. OpenSSH listens on its control socket with a backlog of
 * 64 (mux.c); 100 services attaching the moment their master is ready would overflow it, and a Unix
 * socket's full backlog answers EAGAIN at once. Well under it: the others wait their turn (each turn is
 * well under a millisecond).
 */
const MAX_IN_FLIGHT = 32;
/** A full backlog anyway (another client of the master): tried again this often, this many times. */
const EAGAIN_RETRY_MS = 20;
const EAGAIN_RETRIES = 50;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const str = (s: string) => {
  const body = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(body.length), body]);
};
const packet = (...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
};

/** A local forward: listen on a Unix socket `listenPath`, connect to `host:port` from the far end. */
export interface LocalForward {
  listenPath: string;
  host: string;
  port: number;
}

export class MuxError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOENT' | 'ECONNREFUSED' | 'EAGAIN' | 'SOCKET' | 'DENIED' | 'FAILED' | 'PROTOCOL' | 'ETIMEDOUT' | 'ABORTED' | 'CLOSED',
  ) {
    super(message);
  }
}

/** Requests waiting for a turn, per control socket, and how many are in flight. */
const turns = new Map<string, { inFlight: number; waiting: (() => void)[] }>();

/** One request and its reply, in its turn (see MAX_IN_FLIGHT), a full backlog tried again. */
async function request(control: string, type: number, body: Buffer[], signal?: AbortSignal, timeoutMs = 10_000): Promise<{ type: number; body: Buffer }> {
  let turn = turns.get(control);
  if (!turn) turns.set(control, (turn = { inFlight: 0, waiting: [] }));
  const t = turn;
  // A finished request hands its slot to the next in line (so the count never overshoots).
  if (t.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => t.waiting.push(resolve));
  else t.inFlight += 1;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await requestOnce(control, type, body, signal, timeoutMs);
      } catch (error) {
        if (!(error instanceof MuxError) || error.code !== 'EAGAIN' || attempt >= EAGAIN_RETRIES || signal?.aborted) throw error;
        await new Promise((r) => setTimeout(r, EAGAIN_RETRY_MS));
      }
    }
  } finally {
    const next = t.waiting.shift();
    if (next) next();
    else if (--t.inFlight === 0) turns.delete(control);
  }
}

/** One request and its reply over a fresh connection to the master's control socket. */
function requestOnce(control: string, type: number, body: Buffer[], signal?: AbortSignal, timeoutMs = 10_000): Promise<{ type: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: control });
    let buffer = Buffer.alloc(0);
    let helloSeen = false;
    const requestId = 1;
    const finish = (error: Error | undefined, reply?: { type: number; body: Buffer }) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply!);
    };
    const onAbort = () => finish(new MuxError('aborted', 'ABORTED'));
    const timer = setTimeout(() => finish(new MuxError(`the master did not answer within ${timeoutMs / 1000} s`, 'ETIMEDOUT')), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // ENOENT and ECONNREFUSED: no master behind the path (core replaces the connection); EAGAIN: its backlog is full.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EAGAIN' ? e.code : 'SOCKET';
      finish(new MuxError(`control socket ${control}: ${e.code ?? e.message}`, code));
    });
    socket.on('close', () => finish(new MuxError('the master closed the control connection', 'CLOSED')));
    socket.on('connect', () => {
      socket.write(packet(u32(MUX_MSG_HELLO), u32(MUX_VERSION)));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4) {
        const length = buffer.readUInt32BE(0);
        if (length < 4 || length > MAX_PACKET) return finish(new MuxError(`bad packet length ${length} from the master`, 'PROTOCOL'));
        if (buffer.length < 4 + length) return;
        const msg = buffer.subarray(4, 4 + length);
        buffer = buffer.subarray(4 + length);
        const msgType = msg.readUInt32BE(0);
        if (!helloSeen) {
          if (msgType !== MUX_MSG_HELLO) return finish(new MuxError(`expected the master's hello, got 0x${msgType.toString(16)}`, 'PROTOCOL'));
          const version = msg.length >= 8 ? msg.readUInt32BE(4) : -1;
          if (version !== MUX_VERSION) return finish(new MuxError(`the master speaks mux protocol version ${version}, not ${MUX_VERSION}`, 'PROTOCOL'));
          helloSeen = true;
          socket.write(packet(u32(type), u32(requestId), ...body));
          continue;
        }
        if (msg.length < 8) return finish(new MuxError('short reply from the master', 'PROTOCOL'));
        const replyId = msg.readUInt32BE(4);
        if (replyId !== requestId) return finish(new MuxError(`reply to request ${replyId}, expected ${requestId}`, 'PROTOCOL'));
        return finish(undefined, { type: msgType, body: msg.subarray(8) });
      }
    });
  });
}

const reason = (body: Buffer) => {
  if (body.length < 4) return '';
  const n = body.readUInt32BE(0);
  return body.subarray(4, 4 + n).toString('utf8');
};

function expectOk(reply: { type: number; body: Buffer }, what: string): void {
  if (reply.type === MUX_S_OK) return;
  if (reply.type === MUX_S_PERMISSION_DENIED) throw new MuxError(`${what}: permission denied by the master (${reason(reply.body)})`, 'DENIED');
  if (reply.type === MUX_S_FAILURE) throw new MuxError(`${what}: ${reason(reply.body) || 'failed'}`, 'FAILED');
  throw new MuxError(`${what}: unexpected reply 0x${reply.type.toString(16)}`, 'PROTOCOL');
}

const forwardBody = (f: LocalForward) => [u32(MUX_FWD_LOCAL), str(f.listenPath), u32(PORT_STREAMLOCAL), str(f.host), u32(f.port)];

/** `ssh -O forward -L path:host:port`: the master listens on `listenPath` once this resolves. */
export async function openForward(control: string, f: LocalForward, signal?: AbortSignal): Promise<void> {
  expectOk(await request(control, MUX_C_OPEN_FWD, forwardBody(f), signal), 'adding the forward');
}

/** `ssh -O cancel -L path:host:port`: the master stops listening on `listenPath`; its open channels stay. */
export async function closeForward(control: string, f: LocalForward, signal?: AbortSignal): Promise<void> {
  expectOk(await request(control, MUX_C_CLOSE_FWD, forwardBody(f), signal), 'removing the forward');
}

/** `ssh -O check`: the master's pid. */
export async function aliveCheck(control: string, signal?: AbortSignal, timeoutMs?: number): Promise<number> {
  const reply = await request(control, MUX_C_ALIVE_CHECK, [], signal, timeoutMs);
  if (reply.type !== MUX_S_ALIVE || reply.body.length < 4) throw new MuxError(`alive check: unexpected reply 0x${reply.type.toString(16)}`, 'PROTOCOL');
  return reply.body.readUInt32BE(0);
}
