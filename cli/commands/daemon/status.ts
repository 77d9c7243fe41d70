import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';
import { configFile } from './shared.js';

export class DaemonStatusCommand extends BaseCommand {
  static override paths = [['daemon', 'status']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Whether the daemon runs: pid, socket, config, services, last reload',
    examples: [['Daemon status', '$0 daemon status --output json']],
  });

  async run(): Promise<number> {
    const file = await configFile(this);
    const { findDaemon, daemonStatus } = await import('../../../app/control/daemons.js');
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
