import { Command, Option } from 'clipanion';
import { BaseCommand } from '../BaseCommand.js';

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];

  static override usage = Command.Usage({
    description: "Check each technology's prerequisites: binaries, versions, kube contexts",
    details: `
      Every technology the config uses reports its own checks (kubectl: the binary, its version, and each
      context the config names; ssh: the binary and its version; exec: each command). Exits 1 when a
      required check fails.
    `,
    examples: [
      ['Check what this config needs', '$0 doctor'],
      ['Every registered technology, as JSON', '$0 doctor --all --output json'],
    ],
  });

  all = Option.Boolean('--all', false, { description: 'Check every registered technology, not only those the config uses' });

  async run(): Promise<number> {
    const { doctorView } = await import('../../app/doctor.js');
    const { view, ok } = await doctorView(await this.loadProject(), this.all);
    await this.show(view);
    return ok ? 0 : 1;
  }
}
