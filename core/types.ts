import type { ZodType } from 'zod';
import type { TapHooks } from './hooks.js';

/**
 * Life cycle of one service: stopped → starting → ready → (failed | restarting) → stopping → stopped.
 * A first start that fails transiently goes starting → restarting, and on as a restart would.
 */
export type ServiceState = 'stopped' | 'starting' | 'ready' | 'restarting' | 'failed' | 'stopping';

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
}

export interface ResolvedConfig {
  /** Absolute path of the config file, when it came from one. */
  file?: string;
  version: string;
  services: ServiceDefinition[];
}

// ---------------------------------------------------------------------------------------------
// What plugins provide

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface ForwardContext {
  logger: Logger;
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
  /** The address the forward listens on; clients get it as LOCALPORT_<NAME>_HOST. Default 127.0.0.1. */
  localAddress?(connection: C): string;
  /** A short human description of the far end, e.g. `deploy@bastion → db:5432`. Never contains secrets beyond what the redactor removes. */
  describeTarget(service: ServiceDefinition<C>): string;
  createForward(service: ServiceDefinition<C>, ctx: ForwardContext): ForwardSpec | Promise<ForwardSpec>;
  /**
   * `localport doctor`: whether this technology's prerequisites are met for these services (binary,
   * version, contexts, …). A failed `required` check makes doctor exit non-zero.
   */
  doctor?(services: ServiceDefinition<C>[], options?: DoctorOptions): Promise<DoctorCheck[]>;
}

/** What `localport doctor` was asked for beyond its default, offline checks. */
export interface DoctorOptions {
  /** `--connect`: the technology may make one real, authenticated connection per endpoint. */
  connect?: boolean;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
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
  host: string;
  port: number;
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
  localPort: number;
  remotePort: number;
  target: string;
  tags: string[];
  restarts: number;
  /** ISO time the current state began. */
  since: string | null;
  lastError: string | null;
  /** Health through the tunnel: state, last check time, consecutive failures, last message and failure kind. */
  health: HealthStatus | null;
}

export interface HealthStatus {
  state: 'unknown' | 'healthy' | 'unhealthy';
  type: string;
  /** ISO time of the last completed check. */
  lastCheck: string | null;
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
  | DaemonView;

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
 * `status --watch`), so a machine format writes it on one line (JSON → NDJSON).
 */
export interface Formatter {
  type: string;
  render(view: View, opts: { color: boolean; stream?: boolean }): string;
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
}
