import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';

export class StartCommand extends BaseCommand {
  static override paths = [['start']];

  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Start services in the background daemon (starting the daemon if needed)',
    details: `
      Starts the daemon for this config unless it runs, asks it to start the services (every enabled
      service when none is named), and shows progress until each is healthy. Exits 1 naming the services
      that could not start. The daemon keeps them up after this command returns.
    `,
    examples: [
      ['Start every enabled service', '$0 start --all'],
      ['Start two services', '$0 start db api'],
      ['Start the services tagged "database"', '$0 start -t database'],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });
  tags = Option.Array('-t,--tag', [], { description: 'Select the services with this tag (repeatable)' });
  all = Option.Boolean('-a,--all', false, { description: 'Every enabled service (the default when nothing is named)' });
  timeout = Option.String('--timeout', { description: 'Seconds to wait for every service to be healthy (default 60)' });
  uiPort = Option.String('--ui-port', { description: "Start the daemon's HTTP server (/metrics, `localport ui`) on this port if it is not running yet" });
  wide = Option.Boolean('--wide', false, { description: 'The status table with every column, uncut (default: it fits the terminal)' });

  /** `restart` is this command that stops the services first. */
  protected readonly restart: boolean = false;

  async run(): Promise<number> {
    const timeout = this.seconds(this.timeout, '--timeout', 60);
    const uiPort = this.portNumber(this.uiPort, '--ui-port');
    const { startInDaemon } = await import('../../app/start.js');
    const project = await this.loadProject();
    return startInDaemon(project, {
      selection: { names: this.services, tags: this.tags, all: this.all },
      restart: this.restart,
      timeout,
      uiPort,
      output: this.output,
      color: this.color,
      width: this.width,
      tty: this.progressTty,
      logLevel: this.logLevel,
      stdout: this.context.stdout,
      stderr: this.context.stderr,
    });
  }
}
