import os from 'node:os';
import { LocalPortError, ServiceError, UsageError } from '../core/errors.js';
import { selectServices, Supervisor, type Selection } from '../core/supervisor/Supervisor.js';
import { STOP_GRACE_MS, type ServiceSupervisor } from '../core/supervisor/ServiceSupervisor.js';
import { Shutdown, SHUTDOWN_PHASES } from '../core/supervisor/shutdown.js';
import type { ShutdownPhaseName } from '../core/hooks.js';
import { printable } from '../core/printable.js';
import { showListen } from '../core/address.js';
import type { Redactor } from '../core/redact.js';
import type { Project } from './project.js';
import type { ServiceDefinition, ServiceState } from '../core/types.js';
import { DEFAULT_OUTPUT, errorView, isHumanOutput, render, startFailure } from './output.js';
import { failedStep, progressList, sameFailure, treeGroup, via, type Step } from './progress.js';
import { removeRunState, runStateFile, writeRunState } from '../core/runstate.js';
import { reapLeftovers, recordChildren, type ChildrenRecorder } from '../core/supervisor/reaper.js';
import { findExecutable, withParentDeathSignal } from '../core/supervisor/children.js';

const PLUGIN_NAME = 'localport:cli-run';

export interface RunOptions {
  selection: Selection;
  /** Seconds to wait for every service to be ready. */
  timeout: number;
  /** Command and arguments to run once ready; none = supervise until a signal. */
  command: string[];
  output: string;
  color: boolean;
  /** Columns the status table must fit (undefined: no limit). */
  width?: number;
  /** Whether stderr is a terminal: the animated tree, or plain lines. */
  tty: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** `--events`: where the event stream goes (NDJSON): a file path, or `-` for stdout. */
  events?: string;
}

/** States in which a service's local port is held (by LocalPort's listener, or a relay-less tunnel). */
const HOLDS_PORT: ReadonlySet<ServiceState> = new Set(['starting', 'ready', 'restarting', 'idle', 'stopping']);

/**
 * `run` next to this config's own daemon: when the daemon has a service up on a local port a selected
 * service needs, `run` would only fail on "port in use" (naming a node process). It says instead whose
 * the port is and how to hand it over, before anything starts. A daemon that does not answer is no
 * reason to refuse: the start then says what holds a port, as usual.
 */
async function refuseIfDaemonHolds(configFile: string, selected: ServiceDefinition[]): Promise<void> {
  const { findDaemon, daemonStatus } = await import('./control/daemons.js');
  const daemon = await findDaemon(configFile).catch(() => undefined);
  if (!daemon) return;
  // As briefly as findDaemon's ping: a daemon that hangs on status must not hold `run` up for a minute.
  const status = await daemonStatus(daemon.socket, [], 2000).catch(() => undefined);
  const ports = new Set(selected.map((s) => s.localPort));
  const holding = (status?.services ?? []).filter((s) => HOLDS_PORT.has(s.state) && s.localPort !== null && ports.has(s.localPort));
  if (!holding.length) return;
  const names = holding.map((s) => s.name);
  const what = holding.map((s) => `${s.name} (port ${s.localPort})`).join(', ');
  throw new LocalPortError('PORT_IN_USE', `LocalPort's own daemon for ${configFile} (pid ${daemon.pid}) runs ${what}: the port${holding.length === 1 ? '' : 's'} this run needs`, {
    hint: `Use ${holding.length === 1 ? 'it' : 'them'} through the daemon, or stop ${holding.length === 1 ? 'it' : 'them'} there first: localport stop ${names.join(' ')} (or localport daemon stop for everything). localport status shows what the daemon runs.`,
  });
}

/** `LOCALPORT_<NAME>_PORT` / `_HOST`: upper case, every non-alphanumeric character turned into `_`. */
export function envName(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** A shell's exit code for death by `signal`: 128 + its number on this platform (SIGPIPE: 141 on Linux). */
const signalExit = (signal: NodeJS.Signals): number => 128 + (os.constants.signals[signal] ?? 1);

/**
 * `localport run`: bring the selected services up in parallel, wait until every one is ready, then
 * either run the command (and exit with its code) or supervise until SIGINT/SIGTERM. Everything is
 * torn down before this returns. Returns the exit code.
 */
export async function runServices(project: Project, opts: RunOptions): Promise<number> {
  const { hub, config, logger } = project;
  const selected = selectServices(config, opts.selection, { toStart: true });
  if (selected.length === 0) {
    throw new UsageError(`no enabled services to run${config.file ? ` in ${config.file}` : ''}`, 'Enable a service, or name it: localport run NAME.');
  }
  if (config.file) await refuseIfDaemonHolds(config.file, selected);
  // Opened first: a path that cannot be written fails the run before anything starts.
  const events = opts.events === undefined ? undefined : await openEventStream(opts.events, opts.stdout);
  if (events) (await import('./events.js')).tapEvents(hub, events.write);
  const supervisor = new Supervisor(hub, { configFile: config.file });
  const sups = selected.map((s) => supervisor.add(s));
  // LocalPort's own output goes to stderr when a command runs, so the command's stdout stays clean,
  // and when the events go to stdout, so that stdout is NDJSON (and the command's output).
  const out = opts.command.length || events?.stdout ? opts.stderr : opts.stdout;

  const stateFile = config.file ? runStateFile(config.file) : undefined;

  // The command, while it runs: a forced shutdown does not wait for it.
  let command: { kill(signal: NodeJS.Signals): unknown } | undefined;
  let quiet = false;
  // The same shutdown as the daemon's, phases and `shutdownPhase` included. Its stop gives every
  // tunnel its whole SIGTERM grace, as a stop always has: a user who will not wait presses Ctrl-C again.
  let onPhase: ((info: { phase: ShutdownPhaseName; outcome: string; ms: number }) => void) | undefined;
  const shutdown = new Shutdown(hub, supervisor, {
    logger,
    onPhase: (info) => onPhase?.(info),
    timeouts: { 'cancel-tasks': STOP_GRACE_MS / 1000 + 1 },
    actions: { 'stop-new-work': () => (quiet = true) },
    // As the parent-death signal would, once this process is gone: `npm run` and the like pass it on.
    onForce: () => command?.kill('SIGTERM'),
  });

  // Signals, at any moment: first to the command (if any), then an orderly teardown. A second signal
  // forces: every tunnel group gets SIGKILL, nobody is waited for, and `run` returns at once.
  let signalled: NodeJS.Signals | undefined;
  let onSignal: ((sig: NodeJS.Signals) => void) | undefined;
  let onForced: ((sig: NodeJS.Signals) => void) | undefined;
  const forced$ = new Promise<NodeJS.Signals>((resolve) => (onForced = resolve));
  const signalled$ = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (sig) => {
      if (signalled) {
        logger.warn({ signal: sig }, `received ${sig} again: killing every tunnel now`);
        void shutdown.request(`${sig} again`, { force: true });
        onForced!(sig);
        return;
      }
      signalled = sig;
      logger.info({ signal: sig }, `received ${sig}`);
      resolve(sig);
    };
  });
  for (const sig of SIGNALS) process.on(sig, onSignal!);
  const cleanup = () => SIGNALS.forEach((sig) => process.off(sig, onSignal!));

  // What a killed LocalPort left for this config goes first (its ports are the ones we need); then
  // our own tunnels are recorded, so that the next LocalPort can do the same for us.
  let recorder: ChildrenRecorder | undefined;
  if (config.file) {
    const { reaped } = await reapLeftovers(config.file);
    if (reaped.length) logger.warn({ reaped }, `reaped ${reaped.length} orphaned tunnel process${reaped.length === 1 ? '' : 'es'} left by a killed LocalPort for this config`);
    recorder = recordChildren(config.file, (error) => logger.warn({ err: error.message }, 'could not record child processes'));
  }

  // Publish state for `localport status`: on every change, and every second for health freshness.
  const startedAt = new Date().toISOString();
  let closing = false;
  const publish = () => {
    if (!stateFile || closing) return;
    try {
      writeRunState(stateFile, { mode: 'run', pid: process.pid, config: config.file!, startedAt, updatedAt: new Date().toISOString(), services: supervisor.status() }, hub.redactor);
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'could not write the run state file');
    }
  };
  hub.hooks.stateChanged.tap(PLUGIN_NAME, publish);
  hub.hooks.healthChanged.tap(PLUGIN_NAME, publish);
  const publisher = setInterval(publish, 1000);
  publisher.unref();

  let ended = 'run ended';
  try {
    if (signalled) return signalExit(signalled);
    const failures = await startWithProgress(sups, opts, signalled$, hub.redactor);
    if (signalled) return signalExit(signalled);
    if (failures.length) {
      ended = 'a service could not start';
      if (!isHumanOutput(opts.output)) throw startFailure(failures, sups.length, project.logFile);
      // The progress tree said each failure once. What it cannot say follows: a plugin's bug (a TypeError
      // in createForward) with its stack, through the error boundary; the hint of a user's mistake.
      for (const f of failures) {
        const view = errorView(f);
        if (view.kind !== 'error') continue;
        if (view.stack) opts.stderr.write(`${render(hub, DEFAULT_OUTPUT, view, false)}\n`);
        else if (view.hint) opts.stderr.write(`${printable(hub.redactor.text(`hint${view.service ? ` (${view.service})` : ''}: ${view.hint}`))}\n`);
      }
      const failed = failures.map((f) => (f instanceof ServiceError && f.service) || '?');
      // Each failing service's own log: its tunnel's output (ssh's stderr) is there.
      const logs = failed.map((name) => sups.find((s) => s.name === name)?.logFile).filter((f): f is string => !!f);
      const where = logs.length ? logs.join(', ') : project.logFile;
      opts.stderr.write(`${hub.redactor.text(`${failures.length} of ${sups.length} service${sups.length === 1 ? '' : 's'} could not start (${failed.join(', ')}); ${opts.command.length ? 'the command was not run' : 'stopping'}. Logs: ${where}`)}\n`);
      return 1;
    }
    // Every selected service is healthy (a lazy one: listening): said before the command starts.
    if (events) events.write((await import('./events.js')).toEvent({ kind: 'ready', services: sups.map((s) => s.name) }, hub.redactor));
    out.write(`${render(hub, opts.output, { kind: 'status', services: supervisor.status() }, opts.color, { width: opts.width })}\n`);

    // From here on, state and health changes are news: print them as they happen.
    const news = (line: string) => isHumanOutput(opts.output) && out.write(`${printable(hub.redactor.text(`${new Date().toISOString()} ${line}`))}\n`);
    hub.hooks.stateChanged.tap(PLUGIN_NAME, (c) => {
      if (c.to === 'stopping' || c.to === 'stopped' || signalled || quiet) return;
      news(`${c.service.name}: ${c.from} → ${c.to}${c.error ? ` (${c.error})` : ''}`);
    });
    hub.hooks.healthChanged.tap(PLUGIN_NAME, (c) => {
      if (signalled || quiet) return;
      news(`${c.service.name}: ${c.healthy ? 'healthy' : `unhealthy (${c.result.kind}${c.result.code ? ` ${c.result.code}` : ''}: ${c.result.message})`}`);
    });

    if (opts.command.length === 0) {
      const sig = await signalled$;
      if (isHumanOutput(opts.output)) out.write(`${sig}: stopping ${sups.length} service${sups.length === 1 ? '' : 's'}\n`);
      return signalExit(sig);
    }
    ended = 'the command exited';
    const running = runCommand(opts.command, sups, signalled$, (child) => (command = child));
    return await Promise.race([running, forced$.then((sig) => signalExit(sig))]);
  } finally {
    // On a terminal, the teardown is a tree too: the phases, and the services as they stop.
    const tree = opts.tty && isHumanOutput(opts.output) && sups.length ? teardownTree(sups, (l) => (onPhase = l), printable(hub.redactor.text(signalled ? `received ${signalled}` : ended))) : undefined;
    await shutdown.request(signalled ? `received ${signalled}` : ended);
    await tree;
    clearInterval(publisher);
    closing = true;
    if (stateFile) removeRunState(stateFile);
    recorder?.stop();
    cleanup();
    events?.close();
    logger.flush();
  }
}

/**
 * `--events` output: each event one JSON line, written synchronously, so that the `ready` line is out
 * before the command starts and nothing is lost when `run` ends. A file is created 0600 (events may
 * name hosts and quote errors) and truncated; `-` is stdout. A write that fails (a full disk, a
 * closed pipe) ends the stream, not the run: the services matter more than their log.
 */
async function openEventStream(where: string, stdout: NodeJS.WritableStream): Promise<{ stdout: boolean; write(event: object): void; close(): void }> {
  if (where === '-') {
    let open = true;
    // Its reader gone (`| grep -m1 ready`), the stream ends; the run goes on (cli/main.ts).
    stdout.once('error', () => (open = false));
    return {
      stdout: true,
      write: (event) => {
        if (open) stdout.write(`${JSON.stringify(event)}\n`);
      },
      close: () => (open = false),
    };
  }
  const { closeSync, fchmodSync, fstatSync, openSync, writeSync } = await import('node:fs');
  let fd: number | undefined;
  try {
    fd = openSync(where, 'w', 0o600);
    // An existing regular file keeps its old mode through open(): make it private too. A FIFO or a
    // device (/dev/stderr) is left as it is.
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    throw new UsageError(`--events: cannot write ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'Give a file in a directory you can write to, or - for stdout.');
  }
  return {
    stdout: false,
    write: (event) => {
      if (fd === undefined) return;
      try {
        writeSync(fd, `${JSON.stringify(event)}\n`);
      } catch {
        closeSync(fd);
        fd = undefined;
      }
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * The teardown as a tree: one node, the four shutdown phases under it, and under cancel-tasks the
 * services as they stop. Resolves once it is drawn to the end.
 */
async function teardownTree(sups: ServiceSupervisor[], listen: (l: (info: { phase: ShutdownPhaseName; outcome: string; ms: number }) => void) => void, why: string): Promise<void> {
  const phases = SHUTDOWN_PHASES.map((p) => p.phase);
  const ended = new Map<ShutdownPhaseName, (info: { outcome: string; ms: number }) => void>();
  const results = new Map(phases.map((p) => [p, new Promise<{ outcome: string; ms: number }>((resolve) => ended.set(p, resolve))]));
  listen((info) => ended.get(info.phase)?.(info));
  const stopped = () => sups.filter((s) => s.state === 'stopped').map((s) => s.name);
  const list = await progressList(
    [
      {
        title: `stopping (${why})`,
        task: (_: unknown, task: { newListr(tasks: unknown[], options?: object): unknown }) =>
          task.newListr(
            phases.map((phase) => ({
              title: phase,
              task: async (_c: unknown, t: { title: string; skip(m?: string): void }) => {
                const timer =
                  phase === 'cancel-tasks'
                    ? setInterval(() => (t.title = `${phase}: ${stopped().length}/${sups.length} stopped${stopped().length ? ` (${stopped().join(', ')})` : ''}`), 100)
                    : undefined;
                const { outcome, ms } = await results.get(phase)!;
                clearInterval(timer);
                const detail = phase === 'cancel-tasks' ? `: ${stopped().length}/${sups.length} stopped` : '';
                if (outcome === 'skipped') return t.skip(`${phase}: skipped`);
                t.title = `${phase}${detail} — ${outcome} in ${ms} ms`;
              },
            })),
            { concurrent: false, rendererOptions: { collapseSubtasks: false } },
          ),
      },
    ],
    true,
  );
  await list.run().catch(() => {});
}

/**
 * Where the steps of bringing one service up are reported: on a terminal, a subtask each under the
 * service's node (connecting, listening, health, with the attempt and the last result as they change);
 * elsewhere, the service's one line, as before.
 */
interface StepReport {
  title(step: Step, text: string): void;
  done(step: Step, text: string): void;
  skip(text: string): void;
}

/** Asks `describe` every 100 ms while `until` is pending and reports what changed. */
function watch(report: StepReport, step: Step, describe: () => string, until: Promise<unknown>): void {
  let last = '';
  const tick = () => {
    const text = describe();
    if (text !== last) report.title(step, (last = text));
  };
  tick();
  const timer = setInterval(tick, 100);
  void until.then(
    () => clearInterval(timer),
    () => clearInterval(timer),
  );
}

/** A service whose start a signal interrupted: neither ready nor failed. */
const INTERRUPTED = 'interrupted before it was healthy';

async function startWithProgress(sups: ServiceSupervisor[], opts: RunOptions, signalled$: Promise<NodeJS.Signals>, redactor: Redactor): Promise<Error[]> {
  const failures: Error[] = [];
  const shown = (text: string) => printable(redactor.text(text));
  let signalled = false;
  void signalled$.then(() => (signalled = true));
  // Fail fast: once one service has failed, nobody waits for the others.
  let failFast!: (name: string) => void;
  const oneFailed$ = new Promise<string>((resolve) => (failFast = resolve));
  class NotWaited extends Error {}
  const said = sameFailure();
  const deadline = Date.now() + opts.timeout * 1000;

  /** Brings one service up, saying each step; throws as the task should fail (NotWaited: skipped). */
  const bringUp = async (s: ServiceSupervisor, report: StepReport): Promise<void> => {
    const where = () => showListen(s.status().listen, s.service.localPort);
    const target = () => s.status().target;
    const notReady = () => {
      const h = s.health.status();
      const last = h.lastCheck ? `last ${h.type} check: ${h.message}` : s.lastError ? `last error: ${s.lastError}` : `state ${s.state}`;
      return new ServiceError('START_TIMEOUT', s.name, `service ${s.name}: not ${s.state === 'ready' ? 'healthy' : 'ready'} after --timeout ${opts.timeout} s (${last})`);
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(notReady()), Math.max(0, deadline - Date.now()));
    });
    const stopped = signalled$.then(() => undefined);
    const abandoned = oneFailed$.then((other) => {
      throw new NotWaited(`not waited for: ${other} failed`);
    });
    try {
      const started = Promise.race([s.start(), timeout, stopped, abandoned]);
      watch(report, 'connect', () => {
        const retrying = s.state === 'restarting' ? ` — attempt ${s.attempts + 1}${s.lastError ? `, last: ${s.lastError.replace(`service ${s.name}: `, '')}` : ''}` : '';
        return `connecting to ${target()}${via(s.status().connection)}${retrying}`;
      }, started);
      await started;
      if (s.state === 'idle') {
        // `start: lazy`: listening; the first connection (the command's, perhaps) starts the tunnel.
        report.skip(`idle, listening on ${where()}; the tunnel starts on the first connection (${target()})`);
        return;
      }
      if (s.state !== 'ready' || signalled) return;
      report.done('connect', `connected to ${target()}${via(s.status().connection)}`);
      report.done('listen', `listening on ${where()}`);
      // Healthy, not merely started: the check proves the service answers through the tunnel.
      const healthy = Promise.race([s.whenHealthy(), timeout, stopped, abandoned]);
      watch(report, 'health', () => {
        const h = s.health.status();
        const result = h.lastCheck && h.state !== 'healthy' ? ` — attempt ${h.consecutiveFailures + 1}, last: ${h.message ?? h.kind}` : '';
        return `health: ${h.type}${result}`;
      }, healthy);
      await healthy;
      if (s.health.state === 'healthy') report.done('health', `health: ${s.health.status().type} ok${s.health.status().message ? ` (${s.health.status().message})` : ''}`);
    } catch (error) {
      if (error instanceof NotWaited) throw error;
      // Named by its service (a plugin's error knows none), its code and its cause kept: the error
      // boundary still finds a plugin's bug inside and shows its stack.
      const e = error as Error;
      failures.push(e instanceof ServiceError && e.service ? e : new ServiceError(e instanceof LocalPortError ? e.code : 'START_FAILED', s.name, e.message, e instanceof LocalPortError ? e.hint : undefined, e));
      failFast(s.name);
      throw new Error(shown(said(s.name, (error as Error).message, s.status().connection?.id)));
    } finally {
      clearTimeout(timer);
      abandoned.catch(() => {});
    }
  };

  type Task = { title: string; skip(message?: string): void; newListr(tasks: unknown[], options?: object): unknown };
  const tasks = await progressList(
    sups.map((s) => ({
      // Everything listr2 prints passes through the redactor (targets and errors may hold secrets) and is
      // made printable (they may quote a tunnel's output or a peer's answer).
      title: shown(`${s.name}: ${s.status().target}`),
      group: treeGroup(s.service.technology, s.connectionGroup()),
      task: async (_: unknown, task: Task) => {
        const where = () => showListen(s.status().listen, s.service.localPort);
        if (!opts.tty) {
          // Off a terminal: one line per service, as plain lines.
          try {
            await bringUp(s, { title: () => {}, done: () => {}, skip: (text) => (task.title = shown(`${s.name}: ${text}`)) });
          } catch (error) {
            if (error instanceof NotWaited) return task.skip(error.message);
            throw error;
          }
          if (s.health.state === 'healthy') task.title = shown(`${s.name}: healthy on ${where()} (${s.status().target})`);
          else if (signalled && s.state !== 'idle') return task.skip(shown(`${s.name}: ${INTERRUPTED}`));
          return;
        }
        // On a terminal: the service's node, its steps under it.
        task.title = shown(s.name);
        const steps = new Map<Step, { title: string; skip(m?: string): void }>();
        const gates = new Map<Step, { resolve(): void; reject(e: Error): void; promise: Promise<void> }>();
        const order: Step[] = ['connect', 'listen', 'health'];
        for (const step of order) {
          let resolve!: () => void;
          let reject!: (e: Error) => void;
          const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
          promise.catch(() => {});
          gates.set(step, { resolve, reject, promise });
        }
        const initial: Record<Step, string> = { connect: `connecting to ${s.status().target}`, listen: `listening on ${where()}`, health: `health: ${s.service.healthCheck.type}` };
        let current: Step = 'connect';
        let skipped = false;
        const report: StepReport = {
          title: (step, text) => {
            const t = steps.get(step);
            if (t) t.title = shown(text);
            else initial[step] = text;
          },
          done: (step, text) => {
            report.title(step, text);
            gates.get(step)!.resolve();
            current = order[order.indexOf(step) + 1] ?? step;
          },
          skip: (text) => {
            skipped = true;
            task.title = shown(`${s.name}: ${text}`);
            for (const g of gates.values()) g.resolve();
          },
        };
        const flow = bringUp(s, report).then(
          () => {
            // A signal ended the wait: the steps not done are skipped (↓), not drawn as passed (✔).
            if (signalled && !skipped && s.health.state !== 'healthy') {
              skipped = true;
              task.skip(shown(`${s.name}: ${INTERRUPTED}`));
            }
            for (const g of gates.values()) g.resolve();
            if (s.health.state === 'healthy') task.title = shown(`${s.name}: healthy on ${where()} (${s.status().target})`);
          },
          (error: Error) => {
            if (error instanceof NotWaited) {
              skipped = true;
              // The skip message takes the node's title: it keeps the service's name.
              task.skip(shown(`${s.name}: ${error.message}`));
              for (const g of gates.values()) g.resolve();
              return;
            }
            const h = s.health.status();
            report.title(current, failedStep(current, { target: s.status().target, where: where(), connection: s.status().connection?.id, check: h.type, attempts: h.consecutiveFailures }));
            gates.get(current)!.reject(error);
          },
        );
        void flow;
        return task.newListr(
          order.map((step) => ({
            title: shown(initial[step]),
            task: async (_c: unknown, t: { title: string; skip(m?: string): void }) => {
              steps.set(step, t);
              t.title = shown(initial[step]);
              await gates.get(step)!.promise;
              if (skipped) t.skip(t.title);
            },
          })),
          { concurrent: false, exitOnError: true, rendererOptions: { collapseSubtasks: false } },
        );
      },
    })),
    opts.tty,
    !isHumanOutput(opts.output),
  );
  try {
    await tasks.run();
  } catch {
    /* failures collected above */
  }
  return failures;
}

/** Said through the error boundary, so `-o json` gets a JSON document; the exit code is 127, as a shell's. */
const commandNotFound = (name: string) => new LocalPortError('COMMAND_NOT_FOUND', `command not found: ${name}`, { hint: 'Check the command after --, and PATH.' });

async function runCommand(
  command: string[],
  sups: ServiceSupervisor[],
  signalled$: Promise<NodeJS.Signals>,
  started: (child: { kill(signal: NodeJS.Signals): unknown }) => void,
): Promise<number> {
  const { execa } = await import('execa');
  const env: Record<string, string> = {};
  for (const s of sups) {
    env[`LOCALPORT_${envName(s.name)}_PORT`] = String(s.service.localPort);
    env[`LOCALPORT_${envName(s.name)}_HOST`] = s.localAddress;
  }
  // The command dies with LocalPort, even a SIGKILLed one, as the tunnels do. SIGTERM, not SIGKILL:
  // a wrapper such as `npm run` passes it on to the processes it started.
  const wrapped = withParentDeathSignal(command[0], command.slice(1), 'SIGTERM');
  // Through setpriv, a missing command would be setpriv's error on the user's terminal: say it ourselves.
  if (wrapped.command !== command[0] && !findExecutable(command[0])) throw commandNotFound(command[0]);
  const child = execa(wrapped.command, wrapped.args, { stdio: 'inherit', env, extendEnv: true, reject: false, shell: false, cleanup: true });
  started(child);
  void signalled$.then((sig) => child.kill(sig));
  const result = await child;
  if ((result as { code?: string }).code === 'ENOENT') throw commandNotFound(command[0]);
  if (result.signal) return signalExit(result.signal);
  return result.exitCode ?? 1;
}
