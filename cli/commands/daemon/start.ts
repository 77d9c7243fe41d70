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
    ],
  });
  autoStart = Option.Boolean('--auto-start', false, { description: 'Start every enabled service' });

  async run(): Promise<number> {
    const p = await this.loadProject();
    const { ensureDaemon } = await import('../../../app/control/daemons.js');
    const d = await ensureDaemon(p.config.file!, { autoStart: this.autoStart, logLevel: this.logLevel });
    await this.show({ kind: 'daemon', action: 'start', config: p.config.file!, pid: d.pid, started: d.started, socket: d.socket });
    return 0;
  }
}
