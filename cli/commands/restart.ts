import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';

export class RestartCommand extends BaseCommand {
  static override paths = [['restart']];

  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Restart services in the daemon: stop their tunnels and start them again',
    details: `
      Asks the daemon for this config (starting it if needed) to stop the services named and start them
      again, and shows progress until each is healthy, as \`start\` does. Their ports stay LocalPort's:
      connections that come meanwhile wait for the new tunnels. A service that was stopped is started.
    `,
    examples: [
      ['Restart one service', '$0 restart db'],
      ['Restart the services tagged "database"', '$0 restart -t database'],
      ['Restart every enabled service', '$0 restart --all'],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });
  tags = Option.Array('-t,--tag', [], { description: 'Select the services with this tag (repeatable)' });
  all = Option.Boolean('-a,--all', false, { description: 'Every enabled service (the default when nothing is named)' });
  timeout = Option.String('--timeout', { description: 'Seconds to wait for every service to be healthy (default 60)' });
  wide = Option.Boolean('--wide', false, { description: 'The status table with every column, uncut (default: it fits the terminal)' });

  async run(): Promise<number> {
    const timeout = this.seconds(this.timeout, '--timeout', 60);
    const { startInDaemon } = await import('../../app/start.js');
    const project = await this.loadProject();
    return startInDaemon(project, {
      selection: { names: this.services, tags: this.tags, all: this.all },
      restart: true,
      timeout,
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
