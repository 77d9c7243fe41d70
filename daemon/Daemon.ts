import { existsSync, readFileSync, rmSync } from 'node:fs';
import { readJson, writeFileAtomic, writeJsonAtomic } from '../core/state.js';
import path from 'node:path';
import { LocalPortError, UsageError } from '../core/errors.js';
import type { LocalPort } from '../core/LocalPort.js';
import type { FileLogger } from '../core/log.js';
import type { ResolvedConfig, ServiceDefinition } from '../core/types.js';
import { selectServices, Supervisor } from '../core/supervisor/Supervisor.js';
import { Shutdown, type ShutdownOutcome } from '../core/supervisor/shutdown.js';
import { reloadConfig } from '../app/project.js';
import { statusEntries, stoppedStatus, unresolvedStatus } from '../app/status.js';
import { errorView } from '../app/output.js';
import { ControlServer, type Subscriber } from './server.js';
import { tapEvents, toEvent, type EventSource, type LocalPortEvent } from '../app/events.js';
import type { Request, UiInfo } from '../app/control/protocol.js';
import type { UiServer } from './ui.js';
import { daemonPaths } from '../app/control/sockets.js';
import { serviceLogFile } from '../core/dirs.js';
import { chooseSocket, daemonProcesses, probeSockets, takeDaemonLock } from '../app/control/locate.js';
import { socketDirProblem } from '../app/control/socketdir.js';
import { identify, reapLeftovers, recordChildren, sameProcess, type ChildrenRecorder, type ProcessIdentity } from '../core/supervisor/reaper.js';

export interface DaemonInfo {
  pid: number;
  identity: ProcessIdentity | undefined;
  socket: string;
  config: string;
  startedAt: string;
  version: string;
  /** The HTTP server (/metrics, the dashboard) while it runs; its token is in `uiToken` (daemonPaths). */
  ui?: { port: number; listen: string[] } | null;
}

/** Signals of one kind collected in a burst window, and whether their work runs now. */
interface SignalBurst {
  signals: DaemonSignal[];
  timer?: NodeJS.Timeout;
  running: boolean;
  /** A signal came while the work ran: once more after it. */
  again: boolean;
}

export interface ReloadResult {
  ok: boolean;
  error?: string;
  /** A newer reload finished loading first; this one changed nothing. */
  superseded?: boolean;
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  /**
   * Services that now need environment variables not set in the daemon's environment: one that runs
   * keeps running as it was (neither stopped nor restarted with a placeholder); none is started.
   */
  unresolved?: string[];
}

/** Event subscribers (`localport events`) at once; each holds a connection and up to SUBSCRIBER_BUFFER_BYTES. */
export const MAX_SUBSCRIBERS = 64;

/** How often the daemon checks that its socket and state files are still there. */
const FINDABLE_CHECK_MS = 2000;

/**
 * How long the daemon collects signals of one kind before acting on them: `kill -USR1` in a loop, or
 * a config-management tool that signals every daemon on each of its runs, is one reload, not twenty.
 */
export const SIGNAL_BURST_MS = 200;

/** The signals the daemon acts on besides SIGTERM and SIGINT (which shut it down). */
export type DaemonSignal = 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';

/**
 * The background supervisor for one config file: owns the services, answers the control socket,
 * reloads its config when the file changes, and shuts down in phases leaving no process behind.
 */
/** The daemon's environment is the one of the command that started it, not of the command asking now. */
const UNSET_HINT = "The daemon has the environment of the command that started it: set the variables there and run 'localport daemon restart', or start only services that do not need them.";

export class Daemon {
  readonly supervisor: Supervisor;
  readonly paths: ReturnType<typeof daemonPaths>;
  config: ResolvedConfig;
  reloadError: string | null = null;
  lastReload: string | null = null;
  #server: ControlServer | undefined;
  #watcher: { close(): Promise<void> } | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #inflight = new Set<Promise<unknown>>();
  readonly #shutdown: Shutdown;
  #resolveStopped!: (outcome: ShutdownOutcome) => void;
  /** Settles once a shutdown is over, whoever asked for it (a signal, `daemon stop`, a second request). */
  readonly stopped = new Promise<ShutdownOutcome>((resolve) => (this.#resolveStopped = resolve));
  readonly #startedAt = new Date().toISOString();
  /** The control socket chosen among the candidate paths (the first safe one). */
  #socket: string;
  #findableTimer: NodeJS.Timeout | undefined;
  #ensuring = false;
  /** Held for the daemon's life (see takeDaemonLock). */
  #lock: { close(): unknown } | undefined;
  /** The HTTP server starting or started (`ui`), and the one that listens. */
  #uiStarting: Promise<UiServer> | undefined;
  #ui: UiServer | undefined;
  #dashboard: { close(): void } | undefined;

  constructor(
    readonly hub: LocalPort,
    config: ResolvedConfig,
    readonly logger: FileLogger,
    readonly version: string,
  ) {
    this.config = config;
    this.supervisor = new Supervisor(hub, { configFile: config.file });
    this.paths = daemonPaths(config.file!);
    this.#socket = this.paths.socket;
    // Before anything can fire: every subscriber hears the same events, in the order core fires them.
    tapEvents(hub, (event) => this.#publish(event));
    this.#shutdown = new Shutdown(hub, this.supervisor, {
      logger,
      actions: {
        'stop-new-work': () => this.#stopNewWork(),
        'complete-current': () => Promise.all([...this.#inflight]),
      },
    });
  }

  get socket(): string {
    return this.#socket;
  }

  readonly #subscribers = new Set<Subscriber>();

  #publish(event: LocalPortEvent): void {
    for (const s of this.#subscribers) s.send(event);
  }

  #event(source: EventSource): void {
    if (this.#subscribers.size) this.#publish(toEvent(source, this.hub.redactor));
  }

  /**
   * A `subscribe` request (daemon/server.ts): the names must be services of the config (as for
   * `status`), the daemon must not be stopping, and at most MAX_SUBSCRIBERS are served at once.
   */
  #subscribe(subscriber: Subscriber): void {
    if (this.#shutdown.requested) throw new LocalPortError('DAEMON_STOPPING', 'the daemon is shutting down');
    if (subscriber.names.length) selectServices(this.config, { names: [...subscriber.names] });
    if (this.#subscribers.size >= MAX_SUBSCRIBERS) {
      throw new LocalPortError('TOO_MANY_SUBSCRIBERS', `${MAX_SUBSCRIBERS} event subscribers are connected to this daemon already`, { hint: 'Stop a `localport events` you no longer need.' });
    }
    this.#subscribers.add(subscriber);
    void subscriber.closed.then(() => this.#subscribers.delete(subscriber));
  }

  /** Reaps what a SIGKILLed predecessor left, opens the socket, watches the config. */
  async start(opts: { autoStart: boolean }): Promise<void> {
    await this.#refuseIfRunning();
    await this.#reapPredecessor();
    await this.#listen('start');
    this.#recorder = recordChildren(this.config.file!, (error) => this.logger.error({ err: error.message }, 'could not record child processes'));
    this.#writeInfo();
    await this.#watch();
    this.#findableTimer = setInterval(() => void this.ensureFindable('periodic check'), FINDABLE_CHECK_MS);
    this.#findableTimer.unref();
    this.logger.info({ pid: process.pid, socket: this.#socket, config: this.config.file }, 'daemon started');
    // A fixed port is for a scraper or a bookmark: the server is there from the start. Otherwise it
    // starts on the first `localport ui` (an idle daemon nobody looks at does not carry it).
    if (this.config.ui?.port) void this.ui().catch((e: Error) => this.logger.error({ err: e.message }, `${e.message}; 'localport ui' tries again`));
    if (opts.autoStart) void this.#track(this.startServices({ names: [], tags: [], all: true }));
  }

  /**
   * One daemon per config, whatever is left of the state dir: the kernel-held lock (Linux) decides
   * between daemons started at the same moment, and an answer on any candidate socket (a daemon of an
   * earlier version, or where there is no lock) means this one must not start.
   */
  async #refuseIfRunning(): Promise<void> {
    const running = (pid: number) => new LocalPortError('DAEMON_RUNNING', `a daemon is already running for ${this.config.file} (pid ${pid})`);
    const lock = await takeDaemonLock(this.paths.id).catch((e: Error) => {
      this.logger.warn({ err: e.message }, `could not take the daemon lock: ${e.message}`);
      return undefined;
    });
    if (lock === 'held') {
      const other = daemonProcesses(this.paths.id).find((p) => p.pid !== process.pid);
      if (other) throw running(other.pid);
      // Anyone can bind an abstract name: a squatter must not keep the daemon from starting.
      this.logger.warn('the daemon lock for this config is held by a process that is not a LocalPort daemon of yours; relying on the socket check alone');
    } else this.#lock = lock;
    const answering = await probeSockets(this.paths.sockets);
    if (answering && answering.pid !== process.pid) throw running(answering.pid);
  }

  /** Picks the first safe socket directory (saying why any other is refused) and listens there. */
  async #listen(reason: string): Promise<void> {
    const socket = chooseSocket(this.paths.sockets, ({ problem }) =>
      this.logger.error({ hint: problem.hint }, `refusing the control socket directory: ${problem.message}. ${problem.hint}`),
    );
    const server = new ControlServer(socket, (r) => this.#track(this.handle(r)), this.logger, (v) => this.hub.redactor.data(v), (s) => this.#subscribe(s));
    await server.listen();
    const old = this.#server;
    this.#server = server;
    this.#socket = socket;
    old?.stopAccepting();
    if (old) this.logger.warn({ socket, reason }, `control socket re-created at ${socket} (${reason})`);
  }

  #writeInfo(): void {
    writeJsonAtomic(this.paths.info, {
      pid: process.pid,
      identity: identify(process.pid),
      socket: this.#socket,
      config: this.config.file!,
      startedAt: this.#startedAt,
      version: this.version,
      ui: this.#ui ? { port: this.#ui.port, listen: this.#ui.listen } : null,
    } satisfies DaemonInfo);
  }

  /**
   * Keeps the daemon findable and its state on disk: if its socket file was deleted or replaced, or
   * its directory is no longer safe, it listens again; if the state dir's files vanished (rm -rf of
   * the state dir), it writes them again. Runs every few seconds, on each control request and on
   * SIGUSR2 (a client that finds the process but not its socket sends it). A few lstat calls.
   */
  async ensureFindable(trigger: string): Promise<void> {
    if (this.#shutdown.requested || this.#ensuring || !this.#server) return;
    this.#ensuring = true;
    try {
      if (this.logger.reopenIfGone?.()) this.logger.warn({ trigger }, 'the daemon log was deleted; writing a new one');
      if (!this.#server.ownsPath() || socketDirProblem(path.dirname(this.#socket))) await this.#listen(`${trigger}: the socket was gone, replaced or unsafe`);
      const info = readJson<DaemonInfo>(this.paths.info);
      if (info?.pid !== process.pid || info.socket !== this.#socket) {
        this.#writeInfo();
        if (!info) this.logger.warn({ trigger }, `re-created the daemon info file ${this.paths.info}`);
      }
      this.#recorder?.ensure();
      if (this.#ui && !existsSync(this.paths.uiToken)) this.#writeUiToken(this.#ui);
    } catch (error) {
      this.logger.error({ trigger, err: (error as Error).message }, `could not restore the daemon's socket or state files: ${(error as Error).message}`);
    } finally {
      this.#ensuring = false;
    }
  }

  /**
   * A signal's work, as the original design's signal state machine has it: SIGHUP and SIGUSR1 reload
   * the config, SIGUSR2 writes a status report of every service to the daemon's log. A burst of
   * signals of one kind does that work once: the first opens a window of SIGNAL_BURST_MS, the others
   * in it are counted into it. A signal that comes while that work runs gets one more run after it
   * (the config may have changed after the first read), so a burst gives one reload, at most two.
   * SIGUSR2 also re-checks findability at once, every time: a client that finds this process but
   * not its socket sends it and waits for the socket (app/control/daemons.ts).
   */
  signal(sig: DaemonSignal): void {
    if (this.#shutdown.requested) return;
    if (sig === 'SIGUSR2') void this.ensureFindable(sig);
    const burst = (this.#bursts[sig === 'SIGUSR2' ? 'report' : 'reload'] ??= { signals: [], running: false, again: false });
    if (burst.running) {
      burst.again = true;
      return;
    }
    burst.signals.push(sig);
    if (burst.signals.length > 1) return;
    burst.timer = setTimeout(() => void this.#track(this.#runBurst(burst)), SIGNAL_BURST_MS);
  }

  #bursts: { reload?: SignalBurst; report?: SignalBurst } = {};

  async #runBurst(burst: SignalBurst): Promise<void> {
    const signals = burst.signals;
    burst.signals = [];
    burst.running = true;
    const names = [...new Set(signals)].join('+');
    const count = signals.length > 1 ? `, ${signals.length} signals in one burst` : '';
    try {
      if (signals[0] === 'SIGUSR2') this.#report(`${names}${count}`);
      else await this.reload(`${names}${count}`);
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, `${names} failed: ${(error as Error).message}`);
    } finally {
      burst.running = false;
      if (burst.again && !this.#shutdown.requested) {
        burst.again = false;
        burst.signals.push(signals[signals.length - 1]);
        burst.timer = setTimeout(() => void this.#track(this.#runBurst(burst)), SIGNAL_BURST_MS);
      }
    }
  }

  /**
   * The status report SIGUSR2 asks for: a line per service of the config (name, state, health, pid,
   * restarts, last error), each a log line of its own so that `localport logs` shows it whole. The
   * logger redacts every line before it reaches the disk.
   */
  #report(trigger: string): void {
    const { services } = this.status();
    const counts = new Map<string, number>();
    for (const s of services) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ') || 'no services';
    this.logger.info({ trigger, services: services.length }, `status report (${trigger}): ${services.length} service${services.length === 1 ? '' : 's'}: ${summary}${this.reloadError ? `; config reload failed: ${this.reloadError}` : ''}`);
    for (const s of services) {
      const health = s.health ? `${s.health.type} ${s.health.state}` : '-';
      const lastError = (s.state === 'ready' && s.health?.state === 'unhealthy' ? s.health.message : s.lastError) ?? '-';
      this.logger.info(
        { trigger, service: s.name, state: s.state, pid: s.pid, restarts: s.restarts },
        `status report: ${s.name} state=${s.state} health=${health} pid=${s.pid ?? '-'} restarts=${s.restarts} local=${s.localPort === null ? '-' : `${s.localAddress}:${s.localPort}`} last error: ${lastError}`,
      );
    }
  }

  async #reapPredecessor(): Promise<void> {
    const info = readJson<DaemonInfo>(this.paths.info);
    if (info?.identity && info.pid !== process.pid && sameProcess(info.identity, identify(info.pid))) {
      throw new LocalPortError('DAEMON_RUNNING', `a daemon is already running for ${this.config.file} (pid ${info.pid})`);
    }
    const { reaped, owners } = await reapLeftovers(this.config.file!);
    if (owners === 0 && reaped.length === 0) return;
    this.logger.warn(
      { reaped },
      `reaped ${reaped.length} orphaned tunnel process${reaped.length === 1 ? '' : 'es'} left by a killed LocalPort for this config (daemon or run; only processes carrying its owner marker)`,
    );
    this.orphansReaped = reaped.length;
  }

  orphansReaped = 0;
  #recorder: ChildrenRecorder | undefined;

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p)).catch(() => {});
    return p;
  }

  #watched = new Set<string>();

  /** Preset files that live outside node_modules are watched too (a package's files change only on install). */
  #watchPresets(files: string[]): void {
    const w = this.#watcher as { add?(p: string): void } | undefined;
    for (const f of files) {
      if (this.#watched.has(f) || f.includes(`${path.sep}node_modules${path.sep}`)) continue;
      this.#watched.add(f);
      w?.add?.(f);
    }
  }

  presetFiles: string[] = [];

  async #watch(): Promise<void> {
    const { watch } = await import('chokidar');
    const watcher = watch(this.config.file!, { ignoreInitial: true, atomic: true });
    watcher.on('all', () => {
      clearTimeout(this.#reloadTimer);
      // Editors write in bursts; one reload per burst.
      this.#reloadTimer = setTimeout(() => void this.#track(this.reload('file change')), 150);
    });
    watcher.on('error', (e) => this.logger.error({ err: String(e) }, 'config watcher failed'));
    this.#watcher = watcher;
    this.#watchPresets(this.presetFiles);
  }

  async handle(req: Request): Promise<unknown> {
    void this.ensureFindable('control request');
    if (this.#shutdown.requested && req.method !== 'ping' && req.method !== 'status') {
      throw new LocalPortError('DAEMON_STOPPING', 'the daemon is shutting down');
    }
    switch (req.method) {
      case 'ping':
        return { pid: process.pid };
      case 'status':
        return this.status(req.params.names);
      case 'start':
        return this.startServices(req.params, { wait: false });
      case 'restart':
        return this.restartServices(req.params);
      case 'stop':
        return this.stopServices(req.params);
      case 'reload':
        return this.reload('request');
      case 'shutdown':
        setImmediate(() => void this.shutdown('request'));
        return { pid: process.pid };
      case 'subscribe':
        // The server keeps the connection open and registers it (#subscribe); it never comes here.
        throw new LocalPortError('INTERNAL', 'subscribe is handled by the control server');
      case 'ui':
        return this.ui(req.params.port, req.params.open);
    }
  }

  /**
   * The loopback HTTP server (daemon/ui.ts): started on the first call, on `port`, else the config's
   * `ui.port`, else one the kernel picks; later calls get the one that listens. A start that failed
   * (a port in use) is tried again by the next call.
   */
  async ui(port?: number, open = false): Promise<UiInfo> {
    const first = !this.#uiStarting;
    const starting = (this.#uiStarting ??= this.#startUi(port ?? this.config.ui?.port));
    let server: UiServer;
    try {
      server = await starting;
    } catch (error) {
      if (this.#uiStarting === starting) this.#uiStarting = undefined;
      throw error;
    }
    if (port !== undefined && server.port !== port) {
      throw new LocalPortError('UI_FAILED', `the daemon for ${this.config.file} serves its HTTP server on port ${server.port} already, not ${port}`, {
        // No flag named: `ui` calls it --port, `start` and `daemon start` --ui-port.
        hint: `Use port ${server.port}, or stop the daemon ('localport daemon stop') and ask for port ${port} again.`,
      });
    }
    return { url: server.url, port: server.port, listen: server.listen, token: server.token, started: first, ...(open ? { openUrl: server.oneTimeUrl() } : {}) };
  }

  async #startUi(port: number | undefined): Promise<UiServer> {
    const [{ UiServer }, { mountDashboard }, { createMetrics }] = await Promise.all([import('./ui.js'), import('./dashboard.js'), import('../app/metrics.js')]);
    const server = new UiServer(this.logger, {}, (t) => this.hub.redactor.text(t) !== t);
    let metrics: ReturnType<typeof createMetrics> | undefined;
    const redact = <T>(v: T): T => this.hub.redactor.data(v);
    this.#dashboard = mountDashboard(server, {
      logger: this.logger,
      status: () => {
        const { config, services, reloadError, lastReload } = redact(this.status());
        return { config, services, reloadError, lastReload };
      },
      subscribe: (s) => this.#subscribe(s),
      // As a control request: refused while the daemon stops, and it keeps the daemon findable.
      request: (req) => this.#track(this.handle(req)),
      logFile: (name) => (this.config.services.some((s) => s.name === name) ? serviceLogFile(name, this.config.file) : undefined),
      redact,
    });
    server.route('/metrics', async (_req, res) => {
      // prom-client loads on the first scrape, not with the server.
      const m = await (metrics ??= createMetrics(() => {
        const { services, reloadError } = this.hub.redactor.data(this.status());
        return { services, reloadError };
      }));
      const body = await m.render();
      res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    if (this.#shutdown.requested) throw new LocalPortError('DAEMON_STOPPING', 'the daemon is shutting down');
    await server.start(port ?? 0);
    if (this.#shutdown.requested) {
      await server.close();
      throw new LocalPortError('DAEMON_STOPPING', 'the daemon is shutting down');
    }
    this.#ui = server;
    this.#writeUiToken(server);
    this.#writeInfo();
    this.logger.info({ listen: server.listen }, `HTTP server (/metrics, dashboard) listening on ${server.listen.join(' and ')}`);
    return server;
  }

  #writeUiToken(server: UiServer): void {
    writeFileAtomic(this.paths.uiToken, `${server.token}\n`);
  }

  status(names: string[] = []) {
    // A service kept running through a reload that left it unresolved shows as it runs.
    const services = statusEntries(this.config, names).map((e) => {
      const live = this.supervisor.services.get(e.name)?.status();
      if (live && (live.state !== 'stopped' || !e.unresolved)) return live;
      return e.unresolved ? unresolvedStatus(this.hub, e.unresolved, e.def, "the daemon's environment") : stoppedStatus(this.hub, e.def!);
    });
    return {
      runner: { mode: 'daemon' as const, pid: process.pid, config: this.config.file! },
      config: this.config.file!,
      services,
      reloadError: this.reloadError,
      lastReload: this.lastReload,
      orphansReaped: this.orphansReaped,
    };
  }

  /** Starts the selected services; with `wait`, resolves when each is ready or failed. */
  async startServices(sel: { names: string[]; tags: string[]; all: boolean }, opts: { wait?: boolean } = {}): Promise<{ starting: string[] }> {
    const defs = selectServices(this.config, sel, { toStart: true, hint: UNSET_HINT });
    if (defs.length === 0) throw new UsageError(`no enabled services to start in ${this.config.file}`);
    const started = defs.map((d) => this.#startOne(d));
    if (opts.wait) await Promise.all(started);
    return { starting: defs.map((d) => d.name) };
  }

  /** Stops and starts the selected services again (in the background; `status` follows them). */
  async restartServices(sel: { names: string[]; tags: string[]; all: boolean }): Promise<{ starting: string[] }> {
    const defs = selectServices(this.config, sel, { toStart: true, hint: UNSET_HINT });
    if (defs.length === 0) throw new UsageError(`no enabled services to restart in ${this.config.file}`);
    for (const def of defs) {
      this.logger.info({ service: def.name }, `service ${def.name}: restart requested`);
      void this.#settle(def.name, this.supervisor.stop(def.name).then(() => this.supervisor.start(def)));
    }
    return { starting: defs.map((d) => d.name) };
  }

  #startOne(def: ServiceDefinition): Promise<void> {
    return this.#settle(def.name, this.supervisor.start(def));
  }

  /** A start in the background: tracked for shutdown, its failure logged against the service. */
  #settle(name: string, started: Promise<void>): Promise<void> {
    return this.#track(
      started.catch((error) => {
        // No terminal here: a bug (a plugin's, or ours) is written to the daemon's log with its stack
        // and whom to report it to, as the CLI would print it.
        const view = errorView(error);
        const reportTo = view.reportTo === 'localport' ? 'LocalPort' : view.reportTo ? `the plugin's author (${view.reportTo.plugin})` : undefined;
        const text = view.stack ? `${view.message}\n${view.stack}\nThis is a bug. Please report it to ${reportTo}.` : view.message;
        this.logger.error({ service: name, code: view.code, err: view.message, ...(view.stack ? { stack: view.stack, reportTo: view.reportTo } : {}) }, text);
      }),
    );
  }

  async stopServices(sel: { names: string[]; tags: string[]; all: boolean; force: boolean }): Promise<{ stopped: string[] }> {
    const selectAll = sel.all || (!sel.names.length && !sel.tags.length);
    // A service kept running by a reload that left it unresolved is stopped by its name or tag too.
    const tagged = (this.config.unresolved ?? []).filter((u) => u.tags.some((t) => sel.tags.includes(t))).map((u) => u.name);
    const names = selectAll
      ? [...this.supervisor.services.keys()]
      : [...new Set([...selectServices(this.config, sel).map((s) => s.name), ...[...sel.names, ...tagged].filter((n) => this.supervisor.services.has(n))])];
    await Promise.all(
      names.map(async (n) => {
        if (sel.force) this.supervisor.services.get(n)?.killNow();
        await this.supervisor.stop(n);
      }),
    );
    return { stopped: names };
  }

  /**
   * Validates the changed config and applies the difference: added services start, removed ones stop,
   * changed ones restart, unchanged ones keep running untouched (same PIDs). An invalid config changes
   * nothing; the error is kept for `status` until a valid config arrives.
   */
  async reload(trigger: string): Promise<ReloadResult> {
    // Reloads may overlap (file changes, requests, SIGHUP), and loading a config may take long. The
    // one started last wins: a reload that finishes after a newer one changes nothing, so a slow
    // earlier load never installs an older config over a newer one, and never blocks the next.
    const seq = ++this.#reloadsStarted;
    const superseded = (): ReloadResult => {
      this.logger.info({ trigger }, `config reload (${trigger}) superseded by a newer one`);
      return { ok: true, superseded: true, added: [], removed: [], changed: [], unchanged: [] };
    };
    let next: ResolvedConfig;
    try {
      const loaded = await reloadConfig(this.hub, this.config.file!);
      next = loaded.config;
      this.#watchPresets(loaded.presetFiles);
    } catch (error) {
      if (seq < this.#reloadsDone) return superseded();
      this.#reloadsDone = seq;
      const message = (error as Error).message;
      this.reloadError = message;
      this.logger.error({ trigger }, `config reload failed; the running services stay as they are: ${message}`);
      this.#event({ kind: 'reload', result: { ok: false, error: message, added: [], removed: [], changed: [] } });
      return { ok: false, error: message, added: [], removed: [], changed: [], unchanged: [] };
    }
    if (seq < this.#reloadsDone) return superseded();
    this.#reloadsDone = seq;
    // A service that was unresolved never ran from its definition: resolved now, it is new.
    const wasUnresolved = (this.config.unresolved ?? []).map((u) => u.name);
    const before = new Map(this.config.services.filter((s) => !wasUnresolved.includes(s.name) || this.supervisor.services.has(s.name)).map((s) => [s.name, s]));
    const unresolved = (next.unresolved ?? []).map((u) => u.name);
    // An unresolved service is left as it is: stopping it would lose what runs for want of a variable
    // the daemon never had, and its definition holds a placeholder, not a value, so it cannot start.
    const after = new Map(next.services.filter((s) => !unresolved.includes(s.name)).map((s) => [s.name, s]));
    const result: ReloadResult = { ok: true, added: [], removed: [], changed: [], unchanged: [], unresolved };
    for (const name of before.keys()) if (!after.has(name) && !unresolved.includes(name)) result.removed.push(name);
    for (const [name, def] of after) {
      const old = before.get(name);
      if (!old) result.added.push(name);
      else if (JSON.stringify(old) !== JSON.stringify(def)) result.changed.push(name);
      else result.unchanged.push(name);
    }
    this.config = next;
    this.reloadError = null;
    this.lastReload = new Date().toISOString();
    this.logger.info({ trigger, ...result }, `config reloaded (${trigger}): +${result.added.length} -${result.removed.length} ~${result.changed.length}`);
    const kept = unresolved.filter((n) => this.supervisor.services.has(n) && this.supervisor.services.get(n)!.state !== 'stopped');
    if (unresolved.length) {
      this.logger.warn(
        { trigger, unresolved, kept },
        `config reload (${trigger}): ${unresolved.join(', ')} need${unresolved.length === 1 ? 's' : ''} environment variables not set in the daemon's environment (localport status says which)${kept.length ? `; ${kept.join(', ')} keep${kept.length === 1 ? 's' : ''} running as before` : ''}`,
      );
    }
    // Before the services it starts and stops say so: the reload is the cause of their events.
    this.#event({ kind: 'reload', result });
    this.#reloadUi();

    // Queued synchronously, right after the check above: operations on one service run in the order
    // of the reloads (a service removed and added back starts once its old process is gone), and a
    // reload does not wait for another's stops.
    await Promise.all([
      ...result.removed.map((n) => this.supervisor.remove(n)),
      ...result.changed.map(async (n) => {
        // A service switched on (`enabled: false` → true) starts, as an added one does.
        const { started } = await this.supervisor.replace(after.get(n)!, { start: !before.get(n)!.enabled });
        if (started) await this.#settle(n, started);
      }),
      ...result.added.filter((n) => after.get(n)!.enabled).map((n) => this.#startOne(after.get(n)!)),
    ]);
    return result;
  }

  /** A `ui.port` added by a reload starts the server; a changed one applies when the daemon starts again. */
  #reloadUi(): void {
    const port = this.config.ui?.port;
    if (!port) return;
    if (!this.#uiStarting) void this.ui().catch((e: Error) => this.logger.error({ err: e.message }, `${e.message}; 'localport ui' tries again`));
    else if (this.#ui && this.#ui.port !== port) this.logger.warn({ port, listening: this.#ui.port }, `ui.port is now ${port}; the HTTP server stays on port ${this.#ui.port} until the daemon starts again`);
  }

  #reloadsStarted = 0;
  /** The newest reload that has finished loading (applied, or failed to load). */
  #reloadsDone = 0;

  /**
   * Phased shutdown (core/supervisor/shutdown.ts): stop new work (socket, watcher, timers), let current
   * operations complete, cancel what runs, force-kill what remains; each phase fires `shutdownPhase`.
   * A second request or signal goes straight to force-kill. Resolves, once nothing of the daemon is
   * left but its process, with the outcome (`forced` after a second request); ending the process is
   * daemon/main.ts's business.
   */
  shutdown(reason: string): Promise<ShutdownOutcome> {
    clearInterval(this.#findableTimer);
    const first = !this.#shutdown.requested;
    const outcome = this.#shutdown.request(reason);
    if (first) void this.#finish(outcome, Date.now());
    return this.stopped;
  }

  /** No more requests, reloads or checks; again after the phases, which a forced shutdown skips. */
  async #stopNewWork(): Promise<void> {
    clearTimeout(this.#reloadTimer);
    clearTimeout(this.#bursts.reload?.timer);
    clearTimeout(this.#bursts.report?.timer);
    clearInterval(this.#findableTimer);
    this.#server?.stopAccepting();
    this.#dashboard?.close();
    await this.#ui?.close();
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await watcher?.close();
  }

  async #finish(outcome: Promise<ShutdownOutcome>, t0: number): Promise<void> {
    const o = await outcome;
    try {
      await this.#stopNewWork().catch(() => {});
      // The stream ends after the last phase's event; subscribers of a socket re-created since are ended here too.
      for (const s of this.#subscribers) s.end();
      await this.#server?.close().catch(() => {});
      await Promise.race([Promise.all([...this.#subscribers].map((s) => s.closed)), new Promise((r) => setTimeout(r, 1000).unref())]);
      for (const s of this.#subscribers) s.destroy();
      this.#recorder?.stop();
      this.#removeFiles();
      // The lock goes last, once nothing of this daemon is left that a successor could trip over.
      this.#lock?.close();
      this.logger.info({ ms: Date.now() - t0, left: o.left, forced: o.forced }, `daemon stopped in ${Date.now() - t0} ms`);
      this.logger.flush();
    } finally {
      this.#resolveStopped(o);
    }
  }

  /** Only what is still this daemon's: a successor may already have written its own files. */
  #removeFiles(): void {
    if (readJson<DaemonInfo>(this.paths.info)?.pid === process.pid) rmSync(this.paths.info, { force: true });
    if (process.platform !== 'win32' && this.#server?.ownsPath()) rmSync(this.#socket, { force: true });
    try {
      if (this.#ui && readFileSync(this.paths.uiToken, 'utf8').trim() === this.#ui.token) rmSync(this.paths.uiToken, { force: true });
    } catch {
      /* gone already */
    }
  }
}
