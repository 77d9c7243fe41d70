import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class DaemonStopCommand extends BaseCommand {
  static override paths = [['daemon', 'stop']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Stop the daemon: phased shutdown, every tunnel stopped',
    examples: [['Stop the daemon', '$0 daemon stop']],
  });

  async run(): Promise<number> {
    const file = await this.configFile();
    const { stopDaemon } = await import('../../../app/control/daemons.js');
    await this.outputHub();
    const r = await stopDaemon(file);
    // No daemon: nothing to stop (exit 0, `stopped: false`), as `stop` without one.
    await this.show({ kind: 'daemon', action: 'stop', config: file, stopped: !!r, pid: r?.pid ?? null, ms: r?.ms ?? null });
    return 0;
  }
}
