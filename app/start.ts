import { UsageError } from '../core/errors.js';
import { request } from './control/client.js';
import { selectServices, type Selection } from '../core/supervisor/Supervisor.js';
import type { ServiceStatus } from '../core/types.js';
import { daemonStatus, ensureDaemon } from './control/daemons.js';
import type { Project } from './project.js';
import { isHumanOutput, render } from './output.js';
import { printable } from '../core/printable.js';
import { showListen } from '../core/address.js';
import { serviceLogFile } from '../core/dirs.js';
import { progressList } from './progress.js';

export interface StartOptions {
  selection: Selection;
  timeout: number;
  output: string;
  color: boolean;
  /** Columns the status table must fit (undefined: no limit). */
  width?: number;
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
  const names = selectServices(config, opts.selection, { toStart: true }).map((s) => s.name);
  // A usage mistake, as in `run` (exit 2): nothing was selected that could start.
  if (names.length === 0) throw new UsageError(`no enabled services to start in ${config.file}`, 'Enable a service, or name it: localport start NAME.');
  const daemon = await ensureDaemon(config.file!, { logLevel: opts.logLevel });
  if (daemon.started) opts.stderr.write(`started the LocalPort daemon (pid ${daemon.pid}) for ${config.file}\n`);
  await request(daemon.socket, 'start', { names, tags: [], all: false });

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
  // What listr2 prints is redacted and made printable: a status quotes tunnel output and peers' answers.
  const shown = (text: string) => printable(hub.redactor.text(text));
  const list = await progressList(
    names.map((name) => ({
      title: name,
      task: async (_: unknown, task: { title: string }) => {
        for (;;) {
          const s = latest.get(name);
          if (s) task.title = shown(s.state === 'idle' ? `${name}: idle, listening on ${showListen(s.listen ?? [], s.localPort)}; the tunnel starts on the first connection (${s.target})` : `${name}: ${s.state}${s.state === 'ready' ? ` on ${showListen(s.listen ?? [], s.localPort)}, ${s.health?.type} ${s.health?.state}` : ''} (${s.target})`);
          if (s?.state === 'failed') {
            failures.push(name);
            throw new Error(shown(s.lastError ?? 'failed'));
          }
          if (settled(s)) return;
          if (Date.now() > deadline) {
            failures.push(name);
            throw new Error(shown(`not healthy after --timeout ${opts.timeout} s${s?.health?.message ? ` (last check: ${s.health.message})` : ''}`));
          }
          await new Promise((r) => setTimeout(r, 50));
        }
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
    opts.stderr.write(`${hub.redactor.text(`error: ${failures.length} of ${names.length} service${names.length === 1 ? '' : 's'} did not start: ${failures.join(', ')}. Logs: ${logs} (a plugin's bug, with its stack: localport logs)`)}\n`);
    return 1;
  }
  return 0;
}
