import type { Duplex } from 'node:stream';
import type { ZodType } from 'zod';
import type { TapHooks } from './hooks.js';

/**
 * Life cycle of one service: stopped → starting → ready → (failed | restarting) → stopping → stopped.
 * A first start that fails transiently goes starting → restarting, and on as a restart would.
 * `idle`: LocalPort listens on the service's port but no tunnel runs (a `start: lazy` service before
 * its first connection, or after `idle_stop`); the next connection starts it (idle → starting → ready).
 */
/**
 * A service's state. `unresolved` is status only (no supervisor is ever in it): the config needs an
 * environment variable that is not set where it was resolved, so the service cannot start there.
 */
export type ServiceState = 'stopped' | 'idle' | 'starting' | 'ready' | 'restarting' | 'failed' | 'stopping' | 'unresolved';

/** Seconds everywhere, as in the original LocalPort format. */
export interface RestartPolicy {
  enabled: boolean;
  /** 0 = unlimited. Counted since the service was last stable. */
  maxAttempts: number;
  initialDelay: number;
  backoffMultiplier: number;
  maxDelay: number;
  /** 0..1: each delay is randomised by ± this fraction. */
  jitter: number;
  /** After this many seconds ready, the attempt counter resets. */
  resetAfter: number;
}

export interface HealthCheckSettings<C = Record<string, unknown>> {
  type: string;
  interval: number;
  timeout: number;
  failureThreshold: number;
  successThreshold: number;
  /** Seconds after a (re)start during which failures do not count. */
  startupGrace: number;
  config: C;
}

/** A service after validation: camelCase, defaults applied, secrets still in place. */
export interface ServiceDefinition<C = Record<string, unknown>> {
  name: string;
  technology: string;
  localPort: number;
  remotePort: number;
  connection: C;
  enabled: boolean;
  tags: string[];
  description?: string;
  healthCheck: HealthCheckSettings;
  restartPolicy: RestartPolicy;
  /** Where the service was declared: `local`, or a preset's name. */
  source: string;
  /**
   * LocalPort owns the local port (the front) and relays each connection to the tunnel, which listens
   * on an internal endpoint. `false`: the tunnel binds the local port itself, as before 0.3.
   */
  relay: boolean;
  /** `lazy`: the front listens at once; the tunnel starts on the first connection. */
  start: 'eager' | 'lazy';
  /** Seconds without a connection after which the tunnel stops (the service goes `idle`); unset: never. */
  idleStop?: number;
  /** Seconds a new connection waits for the tunnel to be ready before it is closed. */
  holdTimeout: number;
  /**
   * `false`: the service runs a connection of its own even when its technology can share one (ssh: one
   * master connection per endpoint). Default true.
   */
  shareConnection: boolean;
}

export interface ResolvedConfig {
  /** Absolute path of the config file, when it came from one. */
  file?: string;
  version: string;
  services: ServiceDefinition[];
  /**
   * Services that need environment variables not set here (resolved leniently: a command that does
   * not start them does not need them). They cannot start; `problems` says which variables, where.
   * A service listed here may be missing from `services` (a `${PORT}` that is no port yet).
   */
  unresolved?: UnresolvedService[];
  /**
   * Per service name, the strings that held `${…}` as the file wrote them, by their key path inside the
   * service (`['health_check', 'config', 'password']`): `config export` writes these back, not values.
   */
  templates?: Record<string, { path: string[]; text: string }[]>;
  /** The daemon's loopback HTTP server (`/metrics`, the dashboard). */
  ui?: UiConfig;
}

export interface UiConfig {
  /** A fixed port (the server then starts with the daemon); without it the kernel picks one on the first `localport ui`. */
  port?: number;
}

export interface UnresolvedService {
  name: string;
  enabled: boolean;
  tags: string[];
  /** The variables not set, each once, in the order the service uses them. */
  variables: string[];
  /** Where each is used (`services[2] (cache).local_port`), with the message that names it. */
  problems: { file?: string; path: string; message: string }[];
  /** As far as the file says them without the missing variables (status shows them): */
  technology?: string;
  localPort?: number;
  remotePort?: number;
}

// ---------------------------------------------------------------------------------------------
// What plugins provide

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** A place to listen or connect: a TCP host and port, or a Unix socket path. */
export type Endpoint = { host: string; port: number } | { path: string };

export interface ForwardContext {
  logger: Logger;
  /**
   * Where the forward must listen. With the relay (the default), an internal endpoint that core
   * assigned: a loopback port, or a Unix socket path for a technology that declares `endpoint: 'unix'`;
   * core's front owns the user's local port and relays every connection to this endpoint. With
   * `relay: false`, the user's own bind address and `service.localPort`.
   */
  listen: Endpoint;
  /** Aborted when this attempt is abandoned (the service stops, or the start timed out). */
  signal: AbortSignal;
  /**
   * For an in-process forward (StreamForwardSpec): its upstream is gone for good (a client library's
   * session closed). Core treats it as a process exit: the service restarts under its policy.
   */
  lost(reason: string, failure?: FailureClass): void;
}

/** How a technology's forward is started and how core knows it is listening. */
export interface ForwardSpec {
  command: string;
  /** Always an argument array: LocalPort never builds a shell string. */
  args: string[];
  env?: Record<string, string>;
  /**
   * `output`: ready when a line of stdout or stderr matches (core then confirms the port accepts).
   * `port`: ready when the local port accepts a connection.
   */
  ready: { output: RegExp } | { port: true };
  /**
   * Turns what the process printed and how it exited into a one-line, actionable message
   * (core prefixes `service NAME: `). Return undefined when the output says nothing recognisable.
   * A plain string is a `permanent` failure; return `{ message, failure }` to classify it otherwise.
   */
  explainExit?(info: ExitInfo): string | ExitExplanation | undefined;
  /**
   * Lines the process printed while a connection through it failed (a health check): a one-line reason
   * if they say why (ssh: "channel 3: open failed: connect failed: Connection refused" is the target
   * behind the tunnel refusing), else undefined. Shown as the health check's message.
   */
  explainConnectionFailure?(lines: readonly string[]): string | undefined;
}

/**
 * How core treats a failed start, or a forward that exited (the README's "Failure behaviour"):
 * - `transient`: the same attempt may well work a moment later (a connection reset during the
 *   handshake, a server shedding excess connections, a timeout). Retried under the restart policy,
 *   a first start included.
 * - `permanent`: the setup is wrong (unknown host, port in use, command not found, connection
 *   refused). A first start fails at once and names it; a forward that was already running is
 *   restarted under the policy, since a network or a server can come back.
 * - `rejected`: the far end refused our credentials or its identity changed (refused login, changed
 *   host key). Never retried: every attempt would count against the account or repeat the warning.
 *   The service fails at once, at any time.
 */
export type FailureClass = 'transient' | 'permanent' | 'rejected';

/**
 * An in-process forward: no child process. Core's front asks it for one connected upstream stream per
 * client connection. Readiness, health checks, the restart policy and traffic metrics work as they do
 * for a process.
 */
/**
 * What the relay asks of an in-process forward's connection: `reader`, to be passed on to
 * `openConnection` (the socket then reads into one buffer of its own: no garbage per read, the relay's
 * throughput). A technology that makes its streams otherwise ignores it.
 */
export interface ConnectOptions {
  reader?: { sink?: (chunk: Buffer) => boolean; pending: Buffer[] };
}

export interface StreamForwardSpec {
  /** Opens one upstream connection (resolves once connected); reject when the upstream cannot be reached. */
  connect(signal: AbortSignal, opts?: ConnectOptions): Promise<Duplex>;
  /**
   * Resolves once the forward can serve; rejects with the reason it cannot (classified by
   * `explainError`, else `transient`). Default: one `connect()` succeeds, and is closed again.
   */
  ready?(signal: AbortSignal): Promise<void>;
  /** The forward stops (a restart, an idle stop, a stop): let go of what it holds. */
  close?(): void | Promise<void>;
  /** Turns an error of `ready` into a one-line message and a failure class, like ForwardSpec.explainExit. */
  explainError?(error: Error): string | ExitExplanation | undefined;
}

export interface ExitExplanation {
  message: string;
  /** Default `permanent`. */
  failure?: FailureClass;
}

export interface ExitInfo {
  exitCode?: number;
  signal?: string;
  /** The last lines the process printed (stdout and stderr interleaved). */
  output: string;
  /** The last lines it printed on stderr only. */
  stderr?: string;
}

export interface Technology<C = any> {
  type: string;
  /** Validates the service's `connection` block. Keys are camelCase; snake_case input is accepted. */
  connectionSchema: ZodType<C>;
  /**
   * Keys of `connection` whose values are maps of user data (ssh's `-o` options, a process's
   * environment): their own keys are kept as written, never converted between snake_case and camelCase.
   */
  freeFormKeys?: readonly string[];
  /**
   * Keys of `connection` (camelCase) that hold file paths (ssh's `keyFile`). Core resolves them when the
   * config is loaded, before the technology sees the service: `~` is the user's home, and a relative path
   * is relative to the directory of the file that holds the value (the config, or the preset that set
   * it), not to the working directory.
   */
  pathKeys?: readonly string[];
  /**
   * The bind address the user configured for the service, if any (ssh's `bind_address`, kubectl's
   * `address`). Unset: LocalPort's front listens on 127.0.0.1 and ::1; with `relay: false`, 127.0.0.1.
   */
  localAddress?(connection: C): string | undefined;
  /**
   * Where the forward can listen when core relays to it: `tcp` (a loopback port, the default) or `unix`
   * (a Unix socket path, e.g. ssh's `-L /path:host:port`). The assigned place is `ForwardContext.listen`.
   */
  endpoint?: 'tcp' | 'unix';
  /**
   * `false`: the forward cannot listen where core tells it (it always binds the user's port itself):
   * its services run with `relay: false`, and cannot be `start: lazy`.
   */
  relay?: boolean;
  /** Its forwards run inside LocalPort (StreamForwardSpec): its services need the relay (`relay: false` is refused). */
  inProcess?: boolean;
  /**
   * What a user of this technology changes when its forward listens on the service's own port instead of
   * where LocalPort says (shown in that error's hint), e.g. exec's "put {bindAddress}:{localPort} in args".
   */
  listenHint?: string;
  /** A short human description of the far end, e.g. `deploy@bastion → db:5432`. Never contains secrets beyond what the redactor removes. */
  describeTarget(service: ServiceDefinition<C>): string;
  /**
   * How to bring one forward up: a process to spawn (ForwardSpec), listening on `ctx.listen`, or an
   * in-process forward (StreamForwardSpec). Called for every start and restart.
   */
  createForward(service: ServiceDefinition<C>, ctx: ForwardContext): ForwardSpec | StreamForwardSpec | Promise<ForwardSpec | StreamForwardSpec>;
  /**
   * Services that reach the same endpoint can ride on one connection (ssh: one OpenSSH master per
   * bastion): core runs the connection's process once per key, supervised like a tunnel, and attaches
   * and detaches each service's forward on it. A service with `share_connection: false` runs its own
   * forward (createForward), as do services of a technology without this.
   */
  shared?: SharedConnectionSpec<C>;
  /**
   * `localport doctor`: whether this technology's prerequisites are met for these services (binary,
   * version, contexts, …). A failed `required` check makes doctor exit non-zero.
   */
  doctor?(services: ServiceDefinition<C>[], options?: DoctorOptions): Promise<DoctorCheck[]>;
}

/** Where a shared connection is controlled, and a service's forward on it. */
export interface SharedConnectionContext {
  /** The connection's control socket: a Unix socket path in a private directory (0700). */
  control: string;
  logger: Logger;
}

export interface SharedForwardContext extends SharedConnectionContext {
  /** Where the service's forward must listen (as ForwardContext.listen). */
  listen: Endpoint;
  /** Aborted when the attempt is abandoned (the service stops, or the start timed out). */
  signal: AbortSignal;
}

export interface SharedConnectionSpec<C = any> {
  /**
   * The connection's identity: services whose keys are equal share one connection. Everything that
   * changes where or as whom the connection goes belongs in it. Undefined: this service cannot share.
   */
  key(service: ServiceDefinition<C>): string | undefined;
  /** A short label for status and messages, e.g. `deploy@bastion:2222`. */
  describe(service: ServiceDefinition<C>): string;
  /**
   * The connection's process (`service` is the first to need it): it must serve `ctx.control` once it is
   * ready by its rule. Its explainExit explains its end to every service on it.
   */
  open(service: ServiceDefinition<C>, ctx: SharedConnectionContext): ForwardSpec | Promise<ForwardSpec>;
  /**
   * Adds the service's forward on the ready connection; resolves once it listens on `ctx.listen`. A
   * rejection whose `code` is `ENOENT`, `ECONNREFUSED` or `ETIMEDOUT` says the control socket cannot be reached: core
   * replaces the connection (every service on it restarts); any other rejection fails this attach only.
   */
  attach(service: ServiceDefinition<C>, ctx: SharedForwardContext): Promise<void>;
  /** Removes it; the connection and the other forwards stay. */
  detach(service: ServiceDefinition<C>, ctx: SharedForwardContext): Promise<void>;
  /**
   * Asked every few seconds while services ride on the connection: resolves if its process answers on
   * its control socket. A rejection with `code` ENOENT, ECONNREFUSED or ETIMEDOUT (a hung process: its
   * forwards accept and then nothing moves) makes core replace the connection.
   */
  alive?(ctx: SharedConnectionContext & { signal: AbortSignal }): Promise<void>;
  /**
   * Lines the connection printed while a connection through the service's forward failed (a health
   * check): a one-line reason for that service if they say why (ssh: "channel 3: open failed: connect
   * failed: Connection refused" is the target behind the tunnel refusing), else undefined.
   */
  explainConnectionFailure?(service: ServiceDefinition<C>, lines: readonly string[]): string | undefined;
}

/** What `localport doctor` was asked for beyond its default, offline checks. */
export interface DoctorOptions {
  /** `--connect`: the technology may make one real, authenticated connection per endpoint. */
  connect?: boolean;
}

export interface DoctorCheck {
  /** How a person reads the check (`deploy@bastion:2222 (db, cache): known_hosts`). */
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
  /**
   * The same, in fields a script reads (`doctor -o text`): the check's own name, one word (`known_hosts`,
   * `binary`); what it is about (an endpoint, a binary, a context); the services it concerns. Without
   * `check`, `name` stands for it.
   */
  check?: string;
  subject?: string;
  services?: string[];
}

export type HealthFailureKind = 'unreachable' | 'service_down' | 'auth_rejected' | 'timeout' | 'protocol';

export interface HealthResult {
  ok: boolean;
  kind?: HealthFailureKind;
  message?: string;
  /** The peer's own error code, e.g. PostgreSQL's `28P01`. */
  code?: string;
  details?: Record<string, unknown>;
}

export interface HealthTarget<C = Record<string, unknown>> {
  service: ServiceDefinition;
  /**
   * Where to reach the service's upstream: the tunnel's own endpoint, or a private listener that relays
   * straight to it, never the front (which would accept while the tunnel is down).
   */
  host: string;
  port: number;
  /**
   * Opens one connection to the upstream (the tunnel, or an in-process forward's stream); rejects when
   * it cannot be reached. A check that only proves a connection is accepted must use this: connecting
   * to `host:port` succeeds as soon as LocalPort's listener accepts.
   */
  connect(): Promise<Duplex>;
  /** Seconds. The check must give up by then; core also aborts `signal`. */
  timeout: number;
  config: C;
  signal: AbortSignal;
}

export interface HealthCheck<C = any> {
  type: string;
  configSchema: ZodType<C>;
  /** Keys of `config` whose values are maps of user data (HTTP headers): kept as written, like Technology's. */
  freeFormKeys?: readonly string[];
  check(target: HealthTarget<C>): Promise<HealthResult>;
}

// ---------------------------------------------------------------------------------------------
// Output

export interface ServiceStatus {
  name: string;
  technology: string;
  state: ServiceState;
  pid: number | null;
  localAddress: string;
  /** Null only for an unresolved service whose port is a variable not set. */
  localPort: number | null;
  /** Every address the service listens on, as shown: `127.0.0.1:5432`, `[::1]:5432`. */
  listen: string[];
  remotePort: number | null;
  target: string;
  tags: string[];
  restarts: number;
  /** Whether LocalPort's front owns the port (`relay`), and the lazy settings. */
  relay: boolean;
  start: 'eager' | 'lazy';
  /** Traffic through the front since the service was first started (kept across restarts); null without the relay. */
  traffic: TrafficStatus | null;
  /** ISO time the current state began (the last state change). */
  since: string | null;
  lastError: string | null;
  /** ISO time of the last error. */
  lastErrorAt?: string | null;
  /** The restart attempt under way (counted since the service was last stable; 0 when none). */
  attempt?: number;
  /** Start and restart attempts that failed, in all (`restarts` counts the successful ones). */
  failedAttempts?: number;
  /** ISO time of the next restart attempt, while one is scheduled. */
  nextRetryAt?: string | null;
  /** Health through the tunnel: state, last check time, consecutive failures, last message and failure kind. */
  health: HealthStatus | null;
  /** The shared connection the service rides on (ssh: its OpenSSH master); null when it runs its own. */
  connection?: ConnectionStatus | null;
  /** State `unresolved`: the environment variables it needs that are not set (`lastError` says where each is used). */
  unsetVariables?: string[];
}

/** A shared connection (one per endpoint), as each service on it shows it. */
export interface ConnectionStatus {
  /** `ssh#1`: the technology and a number, unique in this LocalPort process. */
  id: string;
  /** Where it goes, e.g. `deploy@bastion:2222`. */
  label: string;
  /** The connection's process while it runs. */
  pid: number | null;
  /** ISO time the running process became ready. */
  since: string | null;
  /** How many times it was started again after its first start. */
  restarts: number;
  /** Services on it now: attached, or waiting to be (starting, restarting, idle). */
  services: number;
}

export interface TrafficStatus {
  /** Connections being relayed now, and accepted in all. */
  active: number;
  total: number;
  /** Connections waiting for the tunnel now, and that had to wait in all. */
  held: number;
  heldTotal: number;
  /** Closed after waiting `hold_timeout` for the tunnel. */
  timedOut: number;
  /** In flight when their tunnel went away: cut. */
  cut: number;
  /**
   * Reset by a dying tunnel before it read them (killed with the connection in its accept queue):
   * held and sent again to the next tunnel, with the bytes the client had sent (never after an answer).
   */
  replayed: number;
  /** Bytes from clients to the service, and back. */
  bytesIn: number;
  bytesOut: number;
  /** The longest any connection waited for the tunnel, in ms. */
  maxHoldMs: number;
}

export interface HealthStatus {
  state: 'unknown' | 'healthy' | 'unhealthy';
  type: string;
  /** ISO time of the last completed check. */
  lastCheck: string | null;
  /** How long the last completed check took, in ms (a timed-out one: its timeout). */
  latencyMs: number | null;
  consecutiveFailures: number;
  /** The last check's message (success or failure). */
  message: string | null;
  /** How the last failure was classified; null after a success. */
  kind: string | null;
  code: string | null;
  details: Record<string, unknown> | null;
}

export type View =
  | {
      kind: 'status';
      services: ServiceStatus[];
      runner?: { mode: 'run' | 'daemon'; pid: number; config: string } | null;
      config?: string | null;
      /** The daemon's last config reload failed: it keeps the previous config until a valid one arrives. */
      reloadError?: string | null;
    }
  | { kind: 'config'; file: string | null; config: unknown }
  | { kind: 'validate'; file: string | null; services: { name: string; technology: string; enabled: boolean }[] }
  | {
      kind: 'error';
      code: string;
      message: string;
      service?: string;
      hint?: string;
      problems?: unknown[];
      /** Only for a bug: its stack, and who to report it to (a plugin's name, or LocalPort). */
      stack?: string;
      reportTo?: { plugin: string } | 'localport';
    }
  | { kind: 'doctor'; file: string | null; checks: (DoctorCheck & { technology: string })[] }
  /** `config export`: the services in the original file format (snake_case keys, a list). */
  | { kind: 'export'; file: string | null; config: { version?: unknown; services: unknown[] } }
  /** `logs`: the last lines of a service's (or the daemon's) log; under `logs -f`, one line at a time. */
  | { kind: 'logs'; service: string | null; file: string; entries: LogEntry[] }
  /** `logs --list` and `logs --path`. */
  | { kind: 'logFiles'; files: { name: string; file: string; bytes: number; modified: string }[] }
  /** `stop`: the services the daemon stopped (`running: false` when no daemon runs: nothing to do). */
  | { kind: 'stop'; config: string; running: boolean; stopped: string[] }
  /** `daemon reload`: what the reload changed. */
  | { kind: 'reload'; config: string; superseded: boolean; added: string[]; removed: string[]; changed: string[]; unchanged: string[] }
  /** `daemon start|stop|restart|status`. */
  | DaemonView
  /** `ui`: the URL of the daemon's page, with its token, and whether a browser was asked to open it. */
  | { kind: 'ui'; config: string; url: string; listen: string[]; opened: boolean };

/** One line of a log: pino's JSON lines parsed, a tunnel's own line as `message` alone. */
export interface LogEntry {
  time: string | null;
  level: string | null;
  message: string;
}

export type DaemonView =
  | { kind: 'daemon'; action: 'start'; config: string; pid: number; started: boolean; socket: string }
  | { kind: 'daemon'; action: 'stop'; config: string; stopped: boolean; pid: number | null; ms: number | null }
  | { kind: 'daemon'; action: 'restart'; config: string; pid: number; restarted: string[] }
  | {
      kind: 'daemon';
      action: 'status';
      config: string;
      running: boolean;
      pid?: number;
      socket?: string;
      /** How many services are in each state. */
      services?: Record<string, number>;
      reloadError?: string | null;
      lastReload?: string | null;
      orphansReaped?: number;
    };

/**
 * Renders a view as text. Every command's output is a View, so a formatter plugin works for every
 * command. The view is redacted already. `stream`: the view is one item of a stream (`logs -f`,
 * `status --watch`), so a machine format writes it on one line (JSON → NDJSON). `width`: the terminal's
 * columns, for a human format to fit its tables to; undefined with `--wide`, or when not a terminal.
 */
export interface Formatter {
  type: string;
  render(view: View, opts: { color: boolean; stream?: boolean; width?: number }): string;
}

// ---------------------------------------------------------------------------------------------
// Plugins and config input

export interface PluginApi {
  /** Tap side of every hook. Only core fires them. */
  readonly hooks: TapHooks;
  readonly logger: Logger;
  registerTechnology<C>(technology: Technology<C>): void;
  registerHealthCheck<C>(check: HealthCheck<C>): void;
  registerFormatter(formatter: Formatter): void;
}

export interface LocalPortPlugin {
  /** Unique; names every tap, and errors thrown inside the plugin. */
  name: string;
  /** The options the factory was called with; the same plugin listed twice must have equal options. */
  options?: unknown;
  apply(api: PluginApi): void | Promise<void>;
}

/**
 * A plugin object, a package name, or `[packageName, options]` (the package's default export is a
 * factory called with the options). Nested arrays and `false` are allowed, so presets compose.
 */
export type PluginInput = LocalPortPlugin | string | [string, unknown] | false | null | undefined | PluginInput[];

/**
 * Technologies add their connection input type here by declaration merging:
 * `declare module 'localport' { interface TechnologyConnections { ssh: SshConnectionInput } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface TechnologyConnections {}

export interface RestartPolicyInput extends Partial<RestartPolicy> {}

export interface HealthCheckInput {
  type: string;
  interval?: number;
  timeout?: number;
  failureThreshold?: number;
  successThreshold?: number;
  startupGrace?: number;
  config?: Record<string, unknown>;
}

interface ServiceInputBase {
  localPort: number;
  remotePort: number;
  relay?: boolean;
  start?: 'eager' | 'lazy';
  /** Seconds, or a duration such as `10m`. */
  idleStop?: number | string;
  holdTimeout?: number | string;
  enabled?: boolean;
  tags?: string[];
  description?: string;
  healthCheck?: HealthCheckInput;
  restartPolicy?: RestartPolicyInput;
}

type KnownServiceInput = {
  [K in keyof TechnologyConnections]: ServiceInputBase & { technology: K; connection: TechnologyConnections[K] };
}[keyof TechnologyConnections];

/** A service as written in a TypeScript config. */
export type ServiceInput = [KnownServiceInput] extends [never]
  ? ServiceInputBase & { technology: string; connection: Record<string, unknown> }
  : KnownServiceInput;

/**
 * Changes to a service inherited from a preset (no `technology`: that stays the preset's). Fields merge
 * into the preset's service; `{ enabled: false }` switches it off.
 */
export interface ServiceOverride extends Partial<ServiceInputBase> {
  /** Never set here: a service with a technology is a full service, checked as one. */
  technology?: never;
  connection?: Record<string, unknown>;
}

export interface UserConfig {
  /** Presets: package names or relative paths, applied left to right; this file wins. */
  extends?: string | string[];
  version?: string;
  defaults?: { healthCheck?: Partial<HealthCheckInput>; restartPolicy?: RestartPolicyInput };
  /** A list (each with `name`) or an object keyed by service name. */
  services?: Record<string, ServiceInput | ServiceOverride> | Array<(ServiceInput | ServiceOverride) & { name: string }>;
  plugins?: PluginInput[];
  /** The daemon's loopback HTTP server: `{ port: 7070 }` fixes its port and starts it with the daemon. */
  ui?: UiConfig;
}
