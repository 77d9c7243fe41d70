import { Command, Option } from 'clipanion';
import { UsageError } from '../../errors.js';
import { BaseCommand } from '../BaseCommand.js';

export class StatusCommand extends BaseCommand {
  static override paths = [['status']];

  static override usage = Command.Usage({
    description: 'Show each service: state, health, pid, ports, restarts, last error',
    details: `
      Reads what the LocalPort running for this config publishes (a foreground \`localport run\`, or the
      daemon). With nothing running, says so and shows every service as stopped.
    `,
    examples: [
      ['Every service', '$0 status'],
      ['One service, as JSON', '$0 status db --output json'],
      ['Refresh every 2 seconds', '$0 status --watch --interval 2'],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });
  watch = Option.Boolean('-w,--watch', false, { description: 'Redraw until Ctrl-C' });
  interval = Option.String('--interval', { description: 'Seconds between redraws with --watch (default 2)' });

  async run(): Promise<number> {
    const interval = this.interval === undefined ? 2 : Number(this.interval);
    if (!Number.isFinite(interval) || interval <= 0) throw new UsageError(`--interval must be a positive number of seconds (got '${this.interval}')`);
    const [{ loadProject, render }, { statusView }] = await Promise.all([import('../../app/project.js'), import('../../app/status.js')]);
    const project = await loadProject({ configPath: this.configPath, logLevel: this.logLevel, redactor: this.redactor });
    const draw = () => render(project.hub, this.output, statusView(project, this.services), this.color);
    if (!this.watch) {
      this.context.stdout.write(`${draw()}\n`);
      return 0;
    }
    const clear = this.color && this.output === 'table' ? '\x1b[H\x1b[2J' : '';
    for (;;) {
      this.context.stdout.write(`${clear}${draw()}\n`);
      await new Promise((r) => setTimeout(r, interval * 1000));
    }
  }
}
