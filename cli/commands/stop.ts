import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';

export class StopCommand extends BaseCommand {
  static override paths = [['stop']];

  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Stop services in the daemon (the daemon keeps running)',
    details: 'Stops the named services, or every running one with --all (or when none is named). --force kills at once instead of SIGTERM first.',
    examples: [
      ['Stop everything', '$0 stop --all'],
      ['Stop one service', '$0 stop db'],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });
  tags = Option.Array('-t,--tag', [], { description: 'Select the services with this tag (repeatable)' });
  all = Option.Boolean('-a,--all', false, { description: 'Every running service' });
  force = Option.Boolean('--force', false, { description: 'SIGKILL instead of a graceful stop' });

  async run(): Promise<number> {
    const [{ findDaemon }, { request }, { findConfigFile }] = await Promise.all([import('../../app/control/daemons.js'), import('../../app/control/client.js'), import('../../core/config/load.js')]);
    // The path is enough: stopping must work even while the config on disk is broken.
    const file = findConfigFile({ configPath: this.configPath });
    const daemon = await findDaemon(file);
    if (!daemon) {
      this.print({ running: false, stopped: [] }, `No LocalPort daemon is running for ${file}; nothing to stop.`);
      return 0;
    }
    const { stopped } = await request<{ stopped: string[] }>(daemon.socket, 'stop', { names: this.services, tags: this.tags, all: this.all, force: this.force });
    this.print({ running: true, stopped }, `Stopped ${stopped.length ? stopped.join(', ') : 'nothing (no service was running)'}.`);
    return 0;
  }
}
