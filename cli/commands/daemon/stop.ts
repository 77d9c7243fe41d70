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
    const [{ stopDaemon, findDaemon, daemonStatus }, { isHumanOutput }] = await Promise.all([import('../../../app/control/daemons.js'), import('../../../app/output.js')]);
    const hub = await this.outputHub();
    const daemon = this.progressTty && isHumanOutput(this.output) ? await findDaemon(file) : undefined;
    let r: Awaited<ReturnType<typeof stopDaemon>>;
    if (daemon) {
      // On a terminal: the shutdown phase by phase, as `run` draws its teardown.
      const { withStopTree, runningNow } = await import('../../../app/stopTree.js');
      const running = runningNow((await daemonStatus(daemon.socket)).services);
      r = await withStopTree({ socket: daemon.socket, kind: 'daemon', running, title: `stopping the daemon (pid ${daemon.pid})`, redactor: hub.redactor, act: () => stopDaemon(file) });
    } else r = await stopDaemon(file);
    // No daemon: nothing to stop (exit 0, `stopped: false`), as `stop` without one.
    await this.show({ kind: 'daemon', action: 'stop', config: file, stopped: !!r, pid: r?.pid ?? null, ms: r?.ms ?? null });
    return 0;
  }
}
