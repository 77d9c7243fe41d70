import { UsageError } from '../core/errors.js';
import { request } from './control/client.js';
import { selects, selectServices, type Selection } from '../core/supervisor/select.js';
import type { ServiceStatus } from '../core/types.js';
import { daemonStatus, ensureDaemon, findDaemon } from './control/daemons.js';
import type { Project } from './project.js';
import { isHumanOutput, render } from './output.js';
import { printable } from '../core/printable.js';
import { showListen } from '../core/address.js';
import { serviceLogFile } from '../core/dirs.js';
import { stoppedStatus } from './status.js';
import { failedStep, progressList, sameFailure, treeGroup, via } from './progress.js';
import { connectionGroup } from '../core/supervisor/SharedConnection.js';

export interface StartOptions {
  selection: Selection;
  timeout: number;
  output: string;
  color: boolean;
  /** Columns the status table must fit (undefined: no limit). */
  width?: number;
  /** `--ui-port`: the daemon's HTTP server on this port, before any service starts (a busy port fails the command). */
  uiPort?: number;
  /** `localport restart`: stop the services first, then start them. */
  restart?: boolean;
  tty: boolean;
  logLevel: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Done waiting: healthy, failed, or idle (a `start: lazy` service listens; its tunnel starts on the first connection). */
const settled = (s: ServiceStatus | undefined) => !!s && (s.state === 'failed' || s.state === 'idle' || (s.state === 'ready' && s.health?.state === 'healthy'));

/**
 * `localport start`: makes sure the daemon runs, asks it to start the services, and shows the
 * progress tree (fed by polling the daemon's status) until each is healthy or has failed.
 */
export async function startInDaemon(project: Project, opts: StartOptions): Promise<number> {
  const { config, hub } = project;
  // The daemon resolves ${VAR}s in its own environment, the one of the command that started it. A
  // daemon this command starts gets this command's: its variables must be set here. A running one
  // decides for itself (it refuses, naming the variable, what it cannot resolve): a service whose
  // variable is set only in the daemon's environment was refused here.
  const running = await findDaemon(config.file!);
  const sel = opts.selection;
  const names = selectServices(config, sel, { toStart: !running }).map((s) => s.name);
  if (running) for (const u of config.unresolved ?? []) if (!names.includes(u.name) && selects(sel, u)) names.push(u.name);
  // A usage mistake, as in `run` (exit 2): nothing was selected that could start.
  if (names.length === 0) throw new UsageError(`no enabled services to start in ${config.file}`, 'Enable a service, or name it: localport start NAME.');
  const daemon = running ? { ...running, started: false } : await ensureDaemon(config.file!, { logLevel: opts.logLevel });
  if (daemon.started) opts.stderr.write(`started the LocalPort daemon (pid ${daemon.pid}) for ${config.file}\n`);
  if (opts.uiPort !== undefined) await (await import('./ui.js')).serveUi(config.file!, daemon, opts.uiPort, '--ui-port', opts.stderr);
  // A restart: the services are stopped first; once each has moved on, what follows is a start like any other.
  const before = opts.restart ? new Map((await daemonStatus(daemon.socket, names)).services.map((s) => [s.name, s.since])) : undefined;
  await request(daemon.socket, opts.restart ? 'restart' : 'start', { names, tags: [], all: false });
  if (before) await waitUntilRestarted(daemon.socket, names, before);

  const latest = new Map<string, ServiceStatus>();
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const st = await daemonStatus(daemon.socket, names);
      for (const s of st.services) latest.set(s.name, s);
      if (names.every((n) => settled(latest.get(n)))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  const deadline = Date.now() + opts.timeout * 1000;
  const failures: string[] = [];
  const said = sameFailure();
  // What listr2 prints is redacted and made printable: a status quotes tunnel output and peers' answers.
  const shown = (text: string) => printable(hub.redactor.text(text));
  /** One line for the service, off a terminal (and the node's title on one). */
  const line = (name: string, s: ServiceStatus | undefined) =>
    !s
      ? name
      : s.state === 'idle'
        ? `${name}: idle, listening on ${showListen(s.listen ?? [], s.localPort)}; the tunnel starts on the first connection (${s.target})`
        : s.state === 'ready' && s.health?.state === 'healthy'
          ? // As `run` says it.
            `${name}: healthy on ${showListen(s.listen ?? [], s.localPort)} (${s.target})`
          : `${name}: ${s.state}${s.state === 'ready' ? ` on ${showListen(s.listen ?? [], s.localPort)}, ${s.health?.type} ${s.health?.state}` : ''} (${s.target})`;
  /** The steps under a service's node on a terminal, from its status: connecting, listening, health. */
  /** Before the daemon has said anything of a service, its steps are named from its definition. */
  const configured = (name: string) => {
    const def = config.services.find((d) => d.name === name);
    return def ? { status: stoppedStatus(hub, def), check: def.healthCheck.type } : undefined;
  };
  const stepTitles = (name: string, s: ServiceStatus | undefined): [string, string, string] => {
    const known = s ?? configured(name)?.status;
    const where = known ? showListen(known.listen ?? [], known.localPort) : '';
    const retrying = s?.state === 'restarting' && s.lastError ? ` — retrying, last: ${s.lastError.replace(/^service \S+: /, '')}` : '';
    const h = s?.health;
    const check = h?.lastCheck && h.state !== 'healthy' ? ` — attempt ${h.consecutiveFailures + 1}, last: ${h.message ?? h.kind}` : h?.state === 'healthy' ? ` ok${h.message ? ` (${h.message})` : ''}` : '';
    return [`${s?.state === 'ready' ? 'connected to' : 'connecting to'} ${known?.target ?? ''}${via(s?.connection)}${retrying}`, `listening on ${where}`, `health: ${h?.type ?? configured(name)?.check ?? ''}${check}`];
  };
  const groupOf = (name: string) => {
    const def = config.services.find((d) => d.name === name);
    if (!def || !hub.technologies.has(def.technology)) return undefined;
    try {
      return treeGroup(def.technology, connectionGroup(hub.technologies.get(def.technology), def));
    } catch {
      return undefined; // a plugin's bug there is reported by the daemon, against the service
    }
  };
  const list = await progressList(
    names.map((name) => ({
      title: name,
      group: groupOf(name),
      task: async (_: unknown, task: { title: string; newListr(tasks: unknown[], options?: object): unknown }) => {
        // The one loop that decides: settled, failed or timed out. The tree (on a terminal) only shows it.
        const decide = async (show: (s: ServiceStatus | undefined) => void) => {
          for (;;) {
            const s = latest.get(name);
            show(s);
            if (s?.state === 'failed') {
              failures.push(name);
              throw new Error(shown(said(name, s.lastError ?? 'failed', s.connection?.id)));
            }
            if (settled(s)) return s;
            if (Date.now() > deadline) {
              failures.push(name);
              throw new Error(shown(`not healthy after --timeout ${opts.timeout} s${s?.health?.message ? ` (last check: ${s.health.message})` : ''}`));
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        if (!opts.tty) {
          await decide((s) => (task.title = shown(line(name, s))));
          return;
        }
        task.title = shown(name);
        const subtasks: { title: string; skip(m?: string): void }[] = [];
        // A step that is over keeps its last title (a later restart is the health step's to tell).
        const over = [false, false, false];
        const outcome = decide((s) => {
          const titles = stepTitles(name, s);
          subtasks.forEach((t, i) => !over[i] && (t.title = shown(titles[i])));
        });
        outcome.catch(() => {});
        // Step i is done once the service got past it; the failing step shows the error.
        const past = (i: number) => (s: ServiceStatus | undefined) => !!s && (i === 0 ? s.state === 'ready' || s.state === 'idle' : i === 1 ? s.state === 'ready' || s.state === 'idle' : s.state === 'idle' || s.health?.state === 'healthy');
        return task.newListr(
          [0, 1, 2].map((i) => ({
            title: shown(stepTitles(name, latest.get(name))[i]),
            task: async (_c: unknown, t: { title: string; skip(m?: string): void }) => {
              subtasks[i] = t;
              for (;;) {
                const s = latest.get(name);
                if (past(i)(s)) {
                  over[i] = true;
                  if (s?.state === 'idle') t.skip(shown(i === 0 ? line(name, s) : t.title));
                  else t.title = shown(stepTitles(name, s)[i]);
                  if (i === 2 && s?.state === 'ready') task.title = shown(`${name}: healthy on ${showListen(s.listen ?? [], s.localPort)} (${s.target})`);
                  return;
                }
                const done = await Promise.race([outcome.then(() => 'settled' as const), new Promise<'tick'>((r) => setTimeout(() => r('tick'), 50))]).catch((error: Error) => {
                  // This step is where it failed: say what failed.
                  over[i] = true;
                  const last = latest.get(name) ?? configured(name)?.status;
                  t.title = shown(
                    failedStep((['connect', 'listen', 'health'] as const)[i], {
                      target: last?.target ?? '',
                      where: last ? showListen(last.listen ?? [], last.localPort) : '',
                      connection: last?.connection?.id,
                      check: last?.health?.type ?? configured(name)?.check ?? '',
                      attempts: last?.health?.consecutiveFailures,
                    }),
                  );
                  throw error;
                });
                if (done === 'settled' && !past(i)(latest.get(name))) return;
              }
            },
          })),
          { concurrent: false, exitOnError: true, rendererOptions: { collapseSubtasks: false } },
        );
      },
    })),
    opts.tty,
    !isHumanOutput(opts.output),
  );
  await list.run().catch(() => {});
  polling = false;
  await poll.catch(() => {});
  const st = await daemonStatus(daemon.socket, names);
  // The tree said why each one failed; the table would say it again. A machine format gets the table.
  if (!failures.length || !isHumanOutput(opts.output)) opts.stdout.write(`${render(hub, opts.output, { kind: 'status', ...st }, opts.color, { width: opts.width })}\n`);
  if (failures.length) {
    // Each failing service's own log holds its tunnel's output (ssh's stderr); a plugin's bug, with its
    // stack, is in the daemon's log (`localport logs`).
    const logs = failures.map((name) => `${name}: ${serviceLogFile(name, config.file)}`).join(', ');
    opts.stderr.write(`${hub.redactor.text(`error: ${failures.length} of ${names.length} service${names.length === 1 ? '' : 's'} did not start: ${failures.join(', ')}. Logs: ${logs}; the daemon's own log: localport logs`)}\n`);
    return 1;
  }
  return 0;
}

/** Waits until each of `names` has changed state since `before` (the restart reached it; at most 10 s). */
async function waitUntilRestarted(socket: string, names: string[], before: Map<string, string | null>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const now = await daemonStatus(socket, names);
    if (now.services.every((s) => s.since !== before.get(s.name) || s.state === 'stopped')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
