import os from 'node:os';
import { z } from 'zod';
import { configObject, CONTROL_MESSAGE, count, definePlugin, hasControl, hostname, port, seconds, type Endpoint, type ExitExplanation, type ExitInfo, type ServiceDefinition } from '../../core/index.js';
import { sshConfigFile, sshConfigText, unusablePath } from './config-file.js';
import { explainSshOutput, forgetHostKey, knownHostsEntry } from './explain.js';

const PLUGIN_NAME = 'localport:ssh';

/** Options LocalPort sets itself; a user `options` entry for one of them is refused with the key to use instead. */
const MANAGED: Record<string, string> = {
  exitonforwardfailure: 'always on',
  batchmode: 'always on (LocalPort cannot answer prompts)',
  stricthostkeychecking: 'use strict_host_key_checking',
  serveraliveinterval: 'use server_alive_interval',
  serveralivecountmax: 'use server_alive_count_max',
  connecttimeout: 'use connect_timeout',
  permitlocalcommand: 'LocalPort uses it to know when the forward listens',
  localcommand: 'LocalPort uses it to know when the forward listens',
  userknownhostsfile: 'use known_hosts_file',
  controlmaster: 'LocalPort shares one connection per endpoint itself; use share_connection',
  controlpath: 'LocalPort shares one connection per endpoint itself; use share_connection',
  controlpersist: 'LocalPort shares one connection per endpoint itself; use share_connection',
  forkafterauthentication: 'LocalPort supervises ssh as its child; a forked ssh escapes it',
};

const READY_MARK = 'LOCALPORT_SSH_READY';

/** A file path that goes into LocalPort's ssh_config file (see config-file.ts). */
const filePath = (include = false) =>
  z
    .string()
    .min(1)
    .superRefine((p, ctx) => {
      const why = unusablePath(p, include);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    });

/** Resolved by core when the config is loaded: `~`, and relative to the file that sets them. */
const PATH_KEYS = ['keyFile', 'knownHostsFile', 'sshConfig'] as const;

// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const sshConnectionSchema = z.lazy(() =>
  configObject({
    host: hostname(),
    user: z.string().refine((u) => !hasControl(u), { error: CONTROL_MESSAGE, abort: true }).regex(/^[^-\s][^\s@]*$/, 'must be a user name (no spaces, no leading "-")').optional(),
    port: port().optional(),
    keyFile: filePath().optional(),
    remoteHost: hostname().default('localhost'),
    /** Unset: LocalPort listens on 127.0.0.1 and ::1 (127.0.0.1 with relay: false). */
    bindAddress: hostname().optional(),
    jumpHost: hostname().optional(),
    knownHostsFile: filePath().optional(),
    /** An ssh_config file used instead of ~/.ssh/config and the system one (`ssh -F`). */
    sshConfig: filePath(true).optional(),
    strictHostKeyChecking: z.enum(['yes', 'accept-new', 'no']).default('accept-new'),
    // ssh takes whole seconds only: `ConnectTimeout=0.5` makes it exit with "invalid time value".
    serverAliveInterval: seconds().refine(Number.isInteger, 'must be a whole number of seconds (ssh takes no fractions)').default(5),
    serverAliveCountMax: count().refine((n) => n >= 1, 'must be at least 1').default(3),
    connectTimeout: seconds().refine(Number.isInteger, 'must be a whole number of seconds (ssh takes no fractions)').default(10),
    /** Extra `-o Key=Value` options for ssh. */
    options: z
      .record(z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'must be an ssh option name'), z.union([z.string(), z.number(), z.boolean()]))
      .superRefine((opts, ctx) => {
        for (const [key, value] of Object.entries(opts)) {
          const managed = MANAGED[key.toLowerCase()];
          if (managed) ctx.addIssue({ code: 'custom', path: [key], message: `LocalPort sets ${key} itself (${managed})` });
          if (/[\r\n\0]/.test(String(value))) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a single line' });
        }
      })
      .default({}),
    password: z
      .unknown()
      .optional()
      .refine((v) => v === undefined, {
        message: 'password authentication is not supported: LocalPort runs ssh non-interactively (BatchMode). Use key_file or an ssh-agent key, and remove password',
      }),
  }),
);

export type SshConnection = z.output<typeof sshConnectionSchema>;
export type SshConnectionInput = {
  host: string;
  user?: string;
  port?: number;
  keyFile?: string;
  remoteHost?: string;
  bindAddress?: string;
  jumpHost?: string;
  knownHostsFile?: string;
  sshConfig?: string;
  strictHostKeyChecking?: 'yes' | 'accept-new' | 'no';
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  connectTimeout?: number;
  options?: Record<string, string | number | boolean>;
};

declare module '../../core/types.js' {
  interface TechnologyConnections {
    ssh: SshConnectionInput;
  }
}

export const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? os.homedir() + p.slice(1) : p);
const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);

/**
 * What says where and as whom ssh connects: LocalPort's ssh_config file (`-F`: key, known_hosts, host key
 * checking, and through its Include the user's ssh_config — for the final host and every jump host, see
 * config-file.ts), the user's options, port, user, jump host. Shared by the forward and by doctor, so
 * doctor checks the endpoint the forward will use. The file is named by its content: identical
 * endpoints get identical arguments.
 */
export function endpointArgs(c: SshConnection, readOnlyKnownHosts = false): string[] {
  const file = sshConfigFile(
    sshConfigText({
      keyFile: c.keyFile && expandHome(c.keyFile),
      knownHostsFile: c.knownHostsFile && expandHome(c.knownHostsFile),
      sshConfig: c.sshConfig && expandHome(c.sshConfig),
      strictHostKeyChecking: c.strictHostKeyChecking,
      connectTimeout: c.connectTimeout,
      readOnlyKnownHosts,
    }),
  );
  const args: string[] = ['-F', file];
  const o = (k: string, v: string | number) => args.push('-o', `${k}=${v}`);
  for (const [k, v] of Object.entries(c.options)) o(k, typeof v === 'boolean' ? (v ? 'yes' : 'no') : v);
  if (c.port) args.push('-p', String(c.port));
  if (c.user) args.push('-l', c.user);
  if (c.jumpHost) args.push('-J', c.jumpHost);
  return args;
}

/**
 * The ssh argument array for a service whose forward listens on `listen`: the internal endpoint core
 * assigned (a Unix socket: `-L /path:host:port`), or with `relay: false` the user's address and port.
 */
export function sshArgs(service: ServiceDefinition<SshConnection>, listen: Endpoint = { host: service.connection.bindAddress ?? '127.0.0.1', port: service.localPort }): string[] {
  const c = service.connection;
  // Its own connection: never a client of a master that ~/.ssh/config's ControlPath points to.
  const args = sessionArgs(c, [['ControlPath', 'none'], ...('path' in listen ? [['StreamLocalBindUnlink', 'yes'] as const] : [])]);
  if ('path' in listen) {
    // ssh makes the socket 0600 (StreamLocalBindMask 0177); a socket left by a killed ssh is replaced.
    args.push('-L', `${listen.path}:${bracket(c.remoteHost)}:${service.remotePort}`);
  } else {
    args.push('-L', `${bracket(listen.host)}:${listen.port}:${bracket(c.remoteHost)}:${service.remotePort}`);
  }
  args.push('--', c.host);
  return args;
}

/**
 * The master of a shared connection: no forward of its own (each service's is added over `control`,
 * see mux.ts), ready once it is authenticated and serves `control` (LocalCommand runs after ssh opened
 * its control socket). ControlPersist=no: it is LocalPort's child, stopped with it.
 */
export function masterArgs(c: SshConnection, control: string): string[] {
  const args = sessionArgs(c, [
    ['ControlMaster', 'yes'],
    ['ControlPath', control],
    ['ControlPersist', 'no'],
    // Forward sockets are made 0600 in LocalPort's private directory; one left by a killed master is replaced.
    ['StreamLocalBindUnlink', 'yes'],
  ]);
  args.push('--', c.host);
  return args;
}

/**
 * Services whose connections differ only in where the far end connects to (remote_host) or where the
 * forward listens (bind_address) reach the same endpoint: one master carries them all.
 */
export function connectionKey(c: SshConnection): string {
  const { remoteHost: _r, bindAddress: _b, ...endpoint } = c;
  const sorted = (o: object) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // ssh reads option names in any case and yes/true, no/false alike: spelled differently, still one endpoint.
  const options = Object.fromEntries(
    Object.entries(endpoint.options).map(([k, v]) => [k.toLowerCase(), v === true || v === 'yes' ? 'yes' : v === false || v === 'no' ? 'no' : String(v)]),
  );
  return JSON.stringify(sorted({ ...endpoint, options: sorted(options) }));
}

/** `user@host:port` for status, as the user would type it. */
export const describeEndpoint = (c: SshConnection) => `${c.user ? `${c.user}@` : ''}${c.host}${c.port ? `:${c.port}` : ''}${c.jumpHost ? ` via ${c.jumpHost}` : ''}`;

/**
 * ssh's word for a connection through the tunnel that the far end could not open (the lines it printed
 * while a health check failed): "channel 3: open failed: connect failed: Connection refused" is the
 * target behind the tunnel refusing; "administratively prohibited" is the server not allowing it.
 */
export function explainChannelFailure(service: ServiceDefinition<SshConnection>, lines: readonly string[]): string | undefined {
  const target = `${bracket(service.connection.remoteHost)}:${service.remotePort}`;
  for (const line of lines) {
    const m = /channel \d+: open failed: (.*)$/.exec(line.trim());
    if (!m) continue;
    const why = m[1]!;
    if (/connect failed: Connection refused/i.test(why)) return `the target behind the tunnel refused the connection (${target}); is the service running there, on that port?`;
    if (/administratively prohibited/i.test(why)) return `the ssh server does not allow forwarding to ${target} (${why}); check AllowTcpForwarding/PermitOpen on the server`;
    return `the ssh server could not connect to the target behind the tunnel (${target}): ${why}`;
  }
  return undefined;
}

/**
 * The options every ssh process LocalPort runs starts with, then `extra`, then the endpoint's (see
 * endpointArgs). ssh keeps the first value it reads for an option: LocalPort's come before the user's.
 */
function sessionArgs(c: SshConnection, extra: readonly (readonly [string, string])[] = []): string[] {
  const args = ['-N', '-T'];
  const o = (k: string, v: string | number) => args.push('-o', `${k}=${v}`);
  o('ExitOnForwardFailure', 'yes');
  o('BatchMode', 'yes');
  o('StrictHostKeyChecking', c.strictHostKeyChecking);
  o('ServerAliveInterval', c.serverAliveInterval);
  o('ServerAliveCountMax', c.serverAliveCountMax);
  o('ConnectTimeout', c.connectTimeout);
  // ssh runs LocalCommand once the connection (and with ExitOnForwardFailure, the forward) is up:
  // the readiness signal, with no polling and no sleep.
  o('PermitLocalCommand', 'yes');
  o('LocalCommand', `echo ${READY_MARK}`);
  for (const [k, v] of extra) o(k, v);
  args.push(...endpointArgs(c));
  return args;
}

/** The exact command that removes the final host's recorded key: its file, and `[host]:port` off port 22. */
export function forgetHostKeyCommand(c: SshConnection): string {
  return forgetHostKey(knownHostsEntry(c.host, c.port), c.knownHostsFile && expandHome(c.knownHostsFile));
}

/**
 * ssh's own failure messages, turned into what happened, to which host (the final one or a jump host),
 * and what to do (core prefixes the service name), and how core should treat them: a refused login or a
 * changed host key is `rejected` (never retried: it would count against the account, or repeat a
 * possible attack); a connection dropped during the handshake — sshd's MaxStartups sheds excess
 * unauthenticated connections that way — or a timeout is `transient`; the rest (an unknown host key
 * under strict checking included) is a setup mistake, `permanent`. See explain.ts.
 */
export function explainSshExit(service: ServiceDefinition<SshConnection>, info: ExitInfo): ExitExplanation | undefined {
  return explainSshOutput(service.connection, info.output, service.localPort, info.exitCode);
}

/** The forward a service adds on a master: LocalPort's private socket → remote_host:remote_port. */
function forwardOf(service: ServiceDefinition<SshConnection>, listen: Endpoint) {
  if (!('path' in listen)) throw new Error('a shared ssh connection forwards to a Unix socket only');
  return { listenPath: listen.path, host: service.connection.remoteHost, port: service.remotePort };
}

/** Forwards with the system `ssh` client, so ~/.ssh/config aliases, the agent and ProxyJump keep working. */
export const sshPlugin = (opts: { binary?: string } = {}) =>
  definePlugin({
    name: PLUGIN_NAME,
    options: opts,
    apply(api) {
      api.registerTechnology<SshConnection>({
        type: 'ssh',
        connectionSchema: sshConnectionSchema,
        freeFormKeys: ['options'],
        pathKeys: PATH_KEYS,
        localAddress: (c) => c.bindAddress,
        endpoint: 'unix',
        describeTarget: (s) => {
          const c = s.connection;
          return `${c.user ? `${c.user}@` : ''}${c.host}${c.port ? `:${c.port}` : ''} → ${c.remoteHost}:${s.remotePort}`;
        },
        createForward: (service, ctx) => ({
          command: opts.binary ?? 'ssh',
          args: sshArgs(service, ctx.listen),
          ready: { output: new RegExp(`^${READY_MARK}$`) },
          explainExit: (info) => explainSshExit(service, info),
          explainConnectionFailure: (lines) => explainChannelFailure(service, lines),
        }),
        // One OpenSSH master per endpoint carries every service's forward: one key exchange, one sshd
        // session, one TCP connection (sshd's MaxStartups and PerSourcePenalties never see a stampede).
        shared: {
          key: (service) => connectionKey(service.connection),
          describe: (service) => describeEndpoint(service.connection),
          open: (service, ctx) => ({
            command: opts.binary ?? 'ssh',
            args: masterArgs(service.connection, ctx.control),
            ready: { output: new RegExp(`^${READY_MARK}$`) },
            explainExit: (info) => explainSshExit(service, info),
          }),
          attach: async (service, ctx) => {
            const { openForward } = await import('./mux.js');
            await openForward(ctx.control, forwardOf(service, ctx.listen), ctx.signal);
          },
          detach: async (service, ctx) => {
            const { closeForward } = await import('./mux.js');
            await closeForward(ctx.control, forwardOf(service, ctx.listen), ctx.signal);
          },
          alive: async (ctx) => {
            const { aliveCheck } = await import('./mux.js');
            await aliveCheck(ctx.control, ctx.signal, 3000);
          },
          explainConnectionFailure: (service, lines) => explainChannelFailure(service, lines),
        },
        async doctor(services, options) {
          const { sshDoctor } = await import('./doctor.js');
          return sshDoctor(opts.binary ?? 'ssh', services, options);
        },
      });
    },
  });
