import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class DaemonStartCommand extends BaseCommand {
  static override paths = [['daemon', 'start']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Start the background daemon for this config',
    details: 'One daemon per config file. With --auto-start it starts every enabled service at once. A second start says it is already running.',
    examples: [
      ['Start the daemon', '$0 daemon start'],
      ['Start it and every enabled service', '$0 daemon start --auto-start'],
      ['Start it with its HTTP server (/metrics) on port 7070', '$0 daemon start --ui-port 7070'],
    ],
  });
  autoStart = Option.Boolean('--auto-start', false, { description: 'Start every enabled service' });
  uiPort = Option.String('--ui-port', { description: "Start the daemon's HTTP server (/metrics, `localport ui`) on this port (default: ui.port from the config; without either, it starts on the first `localport ui`)" });

  async run(): Promise<number> {
    const uiPort = this.portNumber(this.uiPort, '--ui-port');
    const p = await this.loadProject();
    const { ensureDaemon } = await import('../../../app/control/daemons.js');
    const d = await ensureDaemon(p.config.file!, { autoStart: this.autoStart, logLevel: this.logLevel });
    if (uiPort !== undefined) await (await import('../../../app/ui.js')).serveUi(p.config.file!, d, uiPort, '--ui-port', this.context.stderr);
    await this.show({ kind: 'daemon', action: 'start', config: p.config.file!, pid: d.pid, started: d.started, socket: d.socket });
    return 0;
  }
}
