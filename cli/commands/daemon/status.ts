import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class DaemonStatusCommand extends BaseCommand {
  static override paths = [['daemon', 'status']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Whether the daemon runs: pid, socket, config, services, last reload',
    examples: [['Daemon status', '$0 daemon status --output json']],
  });

  async run(): Promise<number> {
    const file = await this.configFile();
    const { findDaemon, daemonStatus } = await import('../../../app/control/daemons.js');
    await this.outputHub();
    const d = await findDaemon(file);
    // No daemon is an answer, not a failure: exit 0, `running: false`.
    if (!d) {
      await this.show({ kind: 'daemon', action: 'status', config: file, running: false });
      return 0;
    }
    const st = await daemonStatus(d.socket);
    const counts: Record<string, number> = {};
    for (const s of st.services) counts[s.state] = (counts[s.state] ?? 0) + 1;
    await this.show({ kind: 'daemon', action: 'status', config: file, running: true, pid: d.pid, socket: d.socket, services: counts, reloadError: st.reloadError, lastReload: st.lastReload, orphansReaped: st.orphansReaped });
    return 0;
  }
}
