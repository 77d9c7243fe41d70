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
    const [{ findDaemon }, { request }] = await Promise.all([import('../../app/control/daemons.js'), import('../../app/control/client.js')]);
    // The path is enough: stopping must work even while the config on disk is broken.
    const file = await this.configFile();
    await this.outputHub();
    const daemon = await findDaemon(file);
    // No daemon: nothing to stop, which is what was asked (exit 0, `running: false`).
    if (!daemon) {
      await this.show({ kind: 'stop', config: file, running: false, stopped: [] });
      return 0;
    }
    const ask = () => request<{ stopped: string[] }>(daemon.socket, 'stop', { names: this.services, tags: this.tags, all: this.all, force: this.force });
    const { isHumanOutput } = await import('../../app/output.js');
    let stopped: string[];
    if (this.progressTty && isHumanOutput(this.output)) {
      // On a terminal: each service as it stops, from the daemon's events.
      const { daemonStatus } = await import('../../app/control/daemons.js');
      const everyone = this.all || (this.services.length === 0 && this.tags.length === 0);
      const { withStopTree, runningNow } = await import('../../app/stopTree.js');
      const running = runningNow((await daemonStatus(daemon.socket)).services.filter((s) => everyone || this.services.includes(s.name) || s.tags.some((t) => this.tags.includes(t))));
      ({ stopped } = running.length
        ? await withStopTree({ socket: daemon.socket, kind: 'services', running, title: `stopping ${running.length} service${running.length === 1 ? '' : 's'}`, redactor: (await this.outputHub()).redactor, act: ask })
        : await ask());
    } else ({ stopped } = await ask());
    await this.show({ kind: 'stop', config: file, running: true, stopped });
    return 0;
  }
}
