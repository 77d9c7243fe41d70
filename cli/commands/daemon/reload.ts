import { Command } from 'clipanion';
import { LocalPortError } from '../../../core/errors.js';
import { BaseCommand } from '../../BaseCommand.js';

export class DaemonReloadCommand extends BaseCommand {
  static override paths = [['daemon', 'reload']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Reload the config now (the daemon also reloads when the file changes, and on SIGHUP)',
    details: 'Added services start, removed ones stop, changed ones restart, unchanged ones keep running. An invalid config changes nothing and exits 2.',
    examples: [['Reload', '$0 daemon reload']],
  });

  async run(): Promise<number> {
    const file = await this.configFile();
    const { findDaemon } = await import('../../../app/control/daemons.js');
    const { request } = await import('../../../app/control/client.js');
    await this.outputHub();
    const d = await findDaemon(file);
    // Nothing to reload is a failure of what was asked (exit 1), reported like every error (JSON too).
    if (!d) throw new LocalPortError('DAEMON_NOT_RUNNING', `no LocalPort daemon is running for ${file}`, { hint: 'Start it with: localport start' });
    const r = await request<{ ok: boolean; error?: string; superseded?: boolean; added: string[]; removed: string[]; changed: string[]; unchanged: string[] }>(d.socket, 'reload');
    // An invalid config is an error like any other (exit 2, JSON with -o json); the daemon keeps the previous one.
    if (!r.ok) throw new LocalPortError('RELOAD_FAILED', r.error ?? 'the new config is invalid', { hint: 'The daemon keeps running the previous config. Fix this one: the daemon reloads when the file changes.' });
    await this.show({ kind: 'reload', config: file, superseded: r.superseded === true, added: r.added, removed: r.removed, changed: r.changed, unchanged: r.unchanged });
    return 0;
  }
}
