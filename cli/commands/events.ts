import { Command, Option } from 'clipanion';
import { LocalPortError, UsageError } from '../../core/errors.js';
import { BaseCommand } from '../BaseCommand.js';

export class EventsCommand extends BaseCommand {
  static override paths = [['events']];

  static override usage = Command.Usage({
    description: "Follow the daemon's events: state and health changes, restarts, reloads, shutdown",
    details: `
      Prints each event as it happens until the daemon stops (after its shutdown events; exit 0) or
      Ctrl-C. With SERVICE, only that service's events (and those of no service: reloads, shutdown).
      \`--output json\` prints each event as the daemon sends it, one JSON object per line (NDJSON, schema
      version 1: see the README's "Events" section); otherwise one line per event: time, service, what
      happened. Exits 1 when no daemon runs for this config. \`localport run --events FILE\` writes the same
      stream for a foreground run.
    `,
    examples: [
      ['Watch every service', '$0 events'],
      ['One service, as NDJSON', '$0 events db --output json'],
      ['Wait in a script until db is restarting', `$0 events db -o json | grep -m1 '"to":"restarting"'`],
    ],
  });

  services = Option.Rest({ name: 'SERVICE' });

  async run(): Promise<number> {
    const json = this.output === 'json';
    if (!json && this.output !== 'table' && this.output !== 'text') throw new UsageError(`events prints lines (table, text) or json, not '${this.output}'`);
    const file = await this.configFile();
    const [{ findDaemon }, { subscribe }, { describeEvent }] = await Promise.all([
      import('../../app/control/daemons.js'),
      import('../../app/control/client.js'),
      import('../../app/events.js'),
    ]);
    await this.outputHub();
    const daemon = await findDaemon(file);
    if (!daemon) throw new LocalPortError('DAEMON_NOT_RUNNING', `no LocalPort daemon is running for ${file}; there are no events to follow`, { hint: 'Start it with: localport start' });
    const abort = new AbortController();
    const stop = () => abort.abort();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, stop);
    let shutdownSeen = false;
    try {
      const end = await subscribe(daemon.socket, this.services, (e) => {
        const event = e as Parameters<typeof describeEvent>[0];
        if (event.type === 'shutdown') shutdownSeen = true;
        // The daemon redacted each event; a line to a terminal is made printable again (describeEvent).
        this.context.stdout.write(`${json ? JSON.stringify(event) : describeEvent(event)}\n`);
      }, abort.signal);
      if (end === 'aborted' || shutdownSeen) return 0;
      const error = new LocalPortError('DAEMON_UNREACHABLE', `the daemon (pid ${daemon.pid}) closed the event stream without shutting down; it may have been killed`, { hint: 'localport daemon status says whether it runs; its log says why it ended.' });
      if (!json) throw error;
      // Within an NDJSON stream, the error is one line too (the stream's reader parses line by line).
      const { errorView, exitCodeOf, render } = await import('../../app/output.js');
      this.context.stdout.write(`${render(await this.outputHub(), 'json', errorView(error), false, { stream: true })}\n`);
      return exitCodeOf(error);
    } finally {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, stop);
    }
  }
}
