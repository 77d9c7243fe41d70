import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigExportCommand extends BaseCommand {
  static override paths = [['config', 'export']];
  // The default output (the table formatter's) is YAML already: `-o yaml` says so.
  static override outputAliases = { yaml: 'table' };

  static override usage = Command.Usage({
    category: 'Config',
    description: 'Export the resolved services in the original LocalPort YAML format (secrets redacted)',
    details: 'Writes `version` and `services:` as a list with snake_case keys, every default spelled out, every ${VAR} value as ***. --tag keeps only services with that tag.',
    examples: [
      ['Export everything', '$0 config export > localport.yaml'],
      ['Only the databases, as JSON', '$0 config export --tag database --output json'],
    ],
  });

  tags = Option.Array('-t,--tag', [], { description: 'Only services with this tag (repeatable)' });

  async run(): Promise<number> {
    const [{ exportView }, { checkFormat }] = await Promise.all([import('../../../app/configView.js'), import('../../../app/output.js')]);
    const { config, hub } = await this.loadProject({ output: false });
    checkFormat(hub, this.output, Object.keys(ConfigExportCommand.outputAliases));
    await this.show(exportView(config, hub, this.tags));
    return 0;
  }
}
