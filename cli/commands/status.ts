import { Command, Option } from 'clipanion';
import type { View } from '../../core/types.js';
import { BaseCommand } from '../BaseCommand.js';

export class StatusCommand extends BaseCommand {
  static override paths = [['status']];

  static override usage = Command.Usage({
    description: 'Show each service: state, health, pid, ports, uptime, restarts, last error',
    details: `
      Asks the daemon for this config; without one, reads what a foreground \`localport run\` publishes.
      With nothing running, says so and shows every service as stopped. A failed config reload is shown
      until a valid config arrives.
    `,
    examples: [
      ['Every service', '$0 status'],
      ['One service, as JSON', '$0 status db --output json'],
      ['Refresh every 5 seconds', '$0 status --watch --interval 5'],
      ['Every column, however wide', '$0 status --wide'],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });
  watch = Option.Boolean('-w,--watch', false, { description: 'Redraw until Ctrl-C' });
  interval = Option.String('--interval', { description: 'Seconds between redraws with --watch (default 2)' });
  wide = Option.Boolean('--wide', false, { description: 'Every column, uncut (default: the table fits the terminal)' });

  async run(): Promise<number> {
    const interval = this.seconds(this.interval, '--interval', 2);
    const [{ render }, { statusView }, { findDaemon, daemonStatus }] = await Promise.all([
      import('../../app/output.js'),
      import('../../app/status.js'),
      import('../../app/control/daemons.js'),
    ]);
    // Only the path is needed to reach a daemon: a broken config on disk must not hide its status
    // (the daemon keeps the previous config and reports the reload error).
    const file = await this.configFile();
    // --watch is a stream: a machine format prints one line per redraw (NDJSON).
    const opts = { stream: this.watch, width: this.width };
    const draw = async (): Promise<string> => {
      const daemon = await findDaemon(file);
      if (daemon) {
        // The config's formatter plugins render it too (outputHub); the built-in ones need no config.
        const view: View = { kind: 'status', ...(await daemonStatus(daemon.socket, this.services)) };
        return render(await this.outputHub(), this.output, view, this.color, opts);
      }
      const project = await this.loadProject();
      return render(project.hub, this.output, statusView(project, this.services), this.color, opts);
    };
    if (!this.watch) {
      this.context.stdout.write(`${await draw()}\n`);
      return 0;
    }
    // On a terminal, the table is redrawn on the alternate screen (as top and less do): clearing the
    // normal one pushed a copy of every frame into the scrollback. Ctrl-C leaves it and prints the last
    // frame where the user can still read it.
    const screen = (this.context.stdout as NodeJS.WriteStream).isTTY && this.output === 'table';
    if (!screen) {
      for (;;) {
        this.context.stdout.write(`${await draw()}\n`);
        await new Promise((r) => setTimeout(r, interval * 1000));
      }
    }
    let last = '';
    let stopped = false;
    let wake = () => {};
    const stop = () => {
      stopped = true;
      wake();
    };
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, stop);
    this.context.stdout.write('\x1b[?1049h');
    try {
      while (!stopped) {
        const frame = await draw();
        if (stopped) break;
        last = frame;
        this.context.stdout.write(`\x1b[H\x1b[2J${last}\n`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, interval * 1000);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    } finally {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, stop);
      this.context.stdout.write(`\x1b[?1049l${last}\n`);
    }
    return 0;
  }
}
