import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';
import { globals } from '../globals.js';

export class RunCommand extends BaseCommand {
  static override paths = [['run']];
  static trailingOperands = '[-- COMMAND...]';

  static override usage = Command.Usage({
    description: 'Bring services up, wait until they are ready, run a command, tear everything down',
    details: `
      Starts the selected services in parallel (all enabled services when none is named) and waits until
      every one is ready. With a COMMAND after \`--\`, runs it without a shell, with
      \`LOCALPORT_<NAME>_PORT\` and \`LOCALPORT_<NAME>_HOST\` in its environment, then stops every service and
      exits with the command's exit code. Without a COMMAND, stays in the foreground and keeps the services
      up (restarting tunnels that die) until SIGINT or SIGTERM.

      If a service cannot start, LocalPort says which and why, stops the others and exits 1 without running
      the command. While a command runs, LocalPort's own output goes to stderr.

      With \`--events FILE\` (or \`-\` for stdout), every state and health change, scheduled restart and
      shutdown phase is written as one JSON line (the schema of \`localport events\`), and a \`ready\` event
      once every service is healthy, before the command starts. With \`--events -\`, LocalPort's own output
      goes to stderr.
    `,
    examples: [
      ['Run a script against every enabled service', '$0 run -- npm run integration'],
      ['Forward one service and query it', '$0 run db -- psql -h 127.0.0.1 -p 5432'],
      ['Forward the services tagged "database" until Ctrl-C', '$0 run -t database'],
      ['Give slow tunnels three minutes', '$0 run --timeout 3m -- make e2e'],
      ['Events as NDJSON on stdout, a `ready` line before the command', '$0 run --events - -- ./e2e.sh'],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });
  tags = Option.Array('-t,--tag', [], { description: 'Select the services with this tag (repeatable)' });
  all = Option.Boolean('-a,--all', false, { description: 'Select every enabled service (the default when nothing is named)' });
  timeout = Option.String('--timeout', { description: 'Seconds to wait for every service to be ready (default 60)' });
  wide = Option.Boolean('--wide', false, { description: 'The status table with every column, uncut (default: it fits the terminal)' });
  events = Option.String('--events', { description: 'Write the event stream (NDJSON, as `localport events -o json`, plus a `ready` event before the command) to this file (created 0600), or - for stdout' });

  async run(): Promise<number> {
    const timeout = this.seconds(this.timeout, '--timeout', 60);
    const { runServices } = await import('../../app/run.js');
    const project = await this.loadProject();
    return runServices(project, {
      selection: { names: this.services, tags: this.tags, all: this.all },
      timeout,
      command: globals.command,
      output: this.output,
      color: this.color,
      width: this.width,
      tty: this.progressTty,
      stdout: this.context.stdout,
      stderr: this.context.stderr,
      events: this.events,
    });
  }
}
