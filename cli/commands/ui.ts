import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';

export class UiCommand extends BaseCommand {
  static override paths = [['ui']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: "Open the daemon's web page (starting the daemon and its HTTP server if needed)",
    details: `
      The daemon serves a live dashboard (every service, its state, health, traffic, last error and log;
      start, stop and restart buttons) and /metrics (Prometheus) on 127.0.0.1 and ::1 only, behind a
      token that is new for each daemon. This command makes sure it listens, then opens its URL (with the
      token) in the browser, or prints it with --no-open. Its port, when it starts: --port, else ui.port
      from the config, else one the system picks.
    `,
    examples: [
      ['Open the page', '$0 ui'],
      ['Print the URL with its token', '$0 ui --no-open'],
      ['Serve on port 7070 (if the server is not running yet)', '$0 ui --port 7070 --no-open'],
    ],
  });
  open = Option.Boolean('--open', true, { description: 'Open the URL in the browser (default); --no-open prints it' });
  port = Option.String('--port', { description: "Port of the daemon's HTTP server if it is not running yet (default: ui.port from the config, else one the system picks)" });

  async run(): Promise<number> {
    const port = this.portNumber(this.port, '--port');
    const file = await this.configFile();
    await this.outputHub();
    const { ensureUi } = await import('../../app/ui.js');
    await this.show(await ensureUi(file, { port, open: this.open, logLevel: this.logLevel, stderr: this.context.stderr }));
    return 0;
  }
}
