import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

async function project(cmd: BaseCommand) {
  const { loadProject } = await import('../../../app/project.js');
  return loadProject({ configPath: cmd.configPath, logLevel: cmd.logLevel, redactor: cmd.redactor });
}

/** Only the config's path: talking to a running daemon must work while the file on disk is broken. */
async function configFile(cmd: BaseCommand): Promise<string> {
  const { findConfigFile } = await import('../../../config/load.js');
  return findConfigFile({ configPath: cmd.configPath });
}

export class DaemonStartCommand extends BaseCommand {
  static override paths = [['daemon', 'start']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Start the background daemon for this config',
    details: 'One daemon per config file. With --auto-start it starts every enabled service at once. A second start says it is already running.',
    examples: [
      ['Start the daemon', '$0 daemon start'],
      ['Start it and every enabled service', '$0 daemon start --auto-start'],
    ],
  });
  autoStart = Option.Boolean('--auto-start', false, { description: 'Start every enabled service' });

  async run(): Promise<number> {
    const p = await project(this);
    const { ensureDaemon } = await import('../../../app/daemon.js');
    const d = await ensureDaemon(p.config.file!, { autoStart: this.autoStart, logLevel: this.logLevel });
    const msg = d.started ? `LocalPort daemon started (pid ${d.pid}) for ${p.config.file}` : `LocalPort daemon is already running (pid ${d.pid}) for ${p.config.file}`;
    this.print({ pid: d.pid, started: d.started, socket: d.socket, config: p.config.file }, msg);
    return 0;
  }
}

export class DaemonStopCommand extends BaseCommand {
  static override paths = [['daemon', 'stop']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Stop the daemon: phased shutdown, every tunnel stopped',
    examples: [['Stop the daemon', '$0 daemon stop']],
  });

  async run(): Promise<number> {
    const file = await configFile(this);
    const { stopDaemon } = await import('../../../app/daemon.js');
    const r = await stopDaemon(file);
    const msg = r ? `LocalPort daemon (pid ${r.pid}) stopped in ${r.ms} ms` : `No LocalPort daemon is running for ${file}`;
    this.print({ stopped: !!r, pid: r?.pid ?? null, ms: r?.ms ?? null }, msg);
    return 0;
  }
}

export class DaemonRestartCommand extends BaseCommand {
  static override paths = [['daemon', 'restart']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Restart the daemon, bringing back the services that were running (and picking up changed plugins)',
    examples: [['Restart the daemon', '$0 daemon restart']],
  });

  async run(): Promise<number> {
    const p = await project(this);
    const { findDaemon, daemonStatus, stopDaemon, ensureDaemon } = await import('../../../app/daemon.js');
    const { request } = await import('../../../daemon/client.js');
    const before = await findDaemon(p.config.file!);
    const running = before ? (await daemonStatus(before.socket)).services.filter((s) => s.state !== 'stopped' && p.config.services.some((c) => c.name === s.name)).map((s) => s.name) : [];
    await stopDaemon(p.config.file!);
    const d = await ensureDaemon(p.config.file!, { logLevel: this.logLevel });
    if (running.length) await request(d.socket, 'start', { names: running, tags: [], all: false });
    this.print({ pid: d.pid, restarted: running }, `LocalPort daemon restarted (pid ${d.pid})${running.length ? `; starting ${running.join(', ')}` : ''}`);
    return 0;
  }
}

export class DaemonStatusCommand extends BaseCommand {
  static override paths = [['daemon', 'status']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Whether the daemon runs: pid, socket, config, services, last reload',
    examples: [['Daemon status', '$0 daemon status --output json']],
  });

  async run(): Promise<number> {
    const file = await configFile(this);
    const { findDaemon, daemonStatus } = await import('../../../app/daemon.js');
    const d = await findDaemon(file);
    if (!d) {
      this.print({ running: false, config: file }, `No LocalPort daemon is running for ${file}`);
      return 0;
    }
    const st = await daemonStatus(d.socket);
    const counts: Record<string, number> = {};
    for (const s of st.services) counts[s.state] = (counts[s.state] ?? 0) + 1;
    const body = { running: true, pid: d.pid, socket: d.socket, config: file, services: counts, reloadError: st.reloadError, lastReload: st.lastReload, orphansReaped: st.orphansReaped };
    this.print(
      body,
      `LocalPort daemon running (pid ${d.pid})\n  config: ${file}\n  socket: ${d.socket}\n  services: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}${st.reloadError ? `\n  config reload failed: ${st.reloadError}` : ''}`,
    );
    return 0;
  }
}

export class DaemonReloadCommand extends BaseCommand {
  static override paths = [['daemon', 'reload']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Reload the config now (the daemon also reloads when the file changes, and on SIGHUP)',
    details: 'Added services start, removed ones stop, changed ones restart, unchanged ones keep running. An invalid config changes nothing and exits 2.',
    examples: [['Reload', '$0 daemon reload']],
  });

  async run(): Promise<number> {
    const file = await configFile(this);
    const { findDaemon } = await import('../../../app/daemon.js');
    const { request } = await import('../../../daemon/client.js');
    const d = await findDaemon(file);
    if (!d) {
      this.context.stderr.write(`error: no LocalPort daemon is running for ${file}\n`);
      return 1;
    }
    const r = await request<{ ok: boolean; error?: string; added: string[]; removed: string[]; changed: string[]; unchanged: string[] }>(d.socket, 'reload');
    if (this.output === 'json') this.context.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.ok) this.context.stdout.write(`reloaded: added ${r.added.join(', ') || '-'}; removed ${r.removed.join(', ') || '-'}; changed ${r.changed.join(', ') || '-'}; unchanged ${r.unchanged.length}\n`);
    else this.context.stderr.write(`error: the new config is invalid; the daemon keeps running the previous one:\n  ${r.error!.split('\n').join('\n  ')}\n`);
    return r.ok ? 0 : 2;
  }
}
