import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];

  static override usage = Command.Usage({
    description: "Check each technology's prerequisites: binaries, versions, kube contexts, ssh keys and hosts",
    details: `
      Every technology the config uses reports its own checks (kubectl: the binary, its version, and each
      context the config names; ssh: the binary and its version, then per endpoint the key file and its
      permissions, the host as \`ssh -G\` resolves it, and its key in known_hosts; exec: each command).
      Each failure says how to fix it. Exits 1 when a required check fails.

      Without \`--connect\` nothing connects to a server. With it, ssh logs in once per endpoint and runs
      \`true\` (never a bare TCP probe: OpenSSH 9.8+ penalises clients that connect without authenticating).
    `,
    examples: [
      ['Check what this config needs', '$0 doctor'],
      ['Also log in once to every ssh endpoint', '$0 doctor --connect'],
      ['Every registered technology, as JSON', '$0 doctor --all --output json'],
    ],
  });

  all = Option.Boolean('--all', false, { description: 'Check every registered technology, not only those the config uses' });

  connect = Option.Boolean('--connect', false, { description: 'Also make one real, authenticated connection per ssh endpoint' });

  async run(): Promise<number> {
    const { doctorView } = await import('../../app/doctor.js');
    const { view, ok } = await doctorView(await this.loadProject(), this.all, { connect: this.connect });
    await this.show(view);
    return ok ? 0 : 1;
  }
}
