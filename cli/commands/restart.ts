import { Command } from 'clipanion';
import { StartCommand } from './start.js';

/** `start` that stops the services first: the same options, progress and exit codes. */
export class RestartCommand extends StartCommand {
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

  protected override readonly restart = true;
}
