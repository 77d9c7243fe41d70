import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class DaemonRestartCommand extends BaseCommand {
  static override paths = [['daemon', 'restart']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Restart the daemon, bringing back the services that were running (and picking up changed plugins)',
    examples: [['Restart the daemon', '$0 daemon restart']],
  });

  async run(): Promise<number> {
    const p = await this.loadProject();
    const { findDaemon, daemonStatus, stopDaemon, ensureDaemon } = await import('../../../app/control/daemons.js');
    const { request } = await import('../../../app/control/client.js');
    const before = await findDaemon(p.config.file!);
    const running = before ? (await daemonStatus(before.socket)).services.filter((s) => s.state !== 'stopped' && p.config.services.some((c) => c.name === s.name)).map((s) => s.name) : [];
    await stopDaemon(p.config.file!);
    const d = await ensureDaemon(p.config.file!, { logLevel: this.logLevel });
    if (running.length) await request(d.socket, 'start', { names: running, tags: [], all: false });
    await this.show({ kind: 'daemon', action: 'restart', config: p.config.file!, pid: d.pid, restarted: running });
    return 0;
  }
}
