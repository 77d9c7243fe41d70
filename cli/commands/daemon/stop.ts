import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';
import { configFile } from './shared.js';

export class DaemonStopCommand extends BaseCommand {
  static override paths = [['daemon', 'stop']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Stop the daemon: phased shutdown, every tunnel stopped',
    examples: [['Stop the daemon', '$0 daemon stop']],
  });

  async run(): Promise<number> {
    const file = await configFile(this);
    const { stopDaemon } = await import('../../../app/control/daemons.js');
    const r = await stopDaemon(file);
    const msg = r ? `LocalPort daemon (pid ${r.pid}) stopped in ${r.ms} ms` : `No LocalPort daemon is running for ${file}`;
    this.print({ stopped: !!r, pid: r?.pid ?? null, ms: r?.ms ?? null }, msg);
    return 0;
  }
}
