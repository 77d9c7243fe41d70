import { Command } from 'clipanion';
import { LocalPortError } from '../../../core/errors.js';
import { printable } from '../../../core/printable.js';
import { BaseCommand } from '../../BaseCommand.js';
import { configFile } from './shared.js';

export class DaemonReloadCommand extends BaseCommand {
  static override paths = [['daemon', 'reload']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Reload the config now (the daemon also reloads when the file changes, and on SIGHUP)',
    details: 'Added services start, removed ones stop, changed ones restart, unchanged ones keep running. An invalid config changes nothing and exits 2.',
    examples: [['Reload', '$0 daemon reload']],
  });

  async run(): Promise<number> {
    const file = await configFile(this);
    const { findDaemon } = await import('../../../app/control/daemons.js');
    const { request } = await import('../../../app/control/client.js');
    const d = await findDaemon(file);
    // Nothing to reload is a failure of what was asked (exit 1), reported like every error (JSON too).
    if (!d) throw new LocalPortError('DAEMON_NOT_RUNNING', `no LocalPort daemon is running for ${file}`, { hint: 'Start it with: localport start' });
    const r = await request<{ ok: boolean; error?: string; superseded?: boolean; added: string[]; removed: string[]; changed: string[]; unchanged: string[] }>(d.socket, 'reload');
    if (this.output === 'json') this.context.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.superseded) this.context.stdout.write('reloaded: a newer reload finished first and applied the current config\n');
    else if (r.ok) this.context.stdout.write(`reloaded: added ${r.added.join(', ') || '-'}; removed ${r.removed.join(', ') || '-'}; changed ${r.changed.join(', ') || '-'}; unchanged ${r.unchanged.length}\n`);
    else this.context.stderr.write(`error: the new config is invalid; the daemon keeps running the previous one:\n  ${printable(r.error!).split('\n').join('\n  ')}\n`);
    return r.ok ? 0 : 2;
  }
}
