import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigExportCommand extends BaseCommand {
  static override paths = [['config', 'export']];
  // The default output is YAML already: `-o yaml` says so.
  static override outputFormats = ['table', 'yaml', 'json'];

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
    const [{ loadProject }, { exportConfig }] = await Promise.all([import('../../../app/project.js'), import('../../../app/configView.js')]);
    const { config, hub } = await loadProject({ configPath: this.configPath, logLevel: this.logLevel, redactor: this.redactor });
    const data = exportConfig(config, hub, this.tags);
    if (this.output === 'json') this.context.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else {
      const yaml = (await import('js-yaml')).default;
      this.context.stdout.write(`# exported by localport config export from ${config.file}; values from the environment are shown as ***\n${yaml.dump(data, { lineWidth: 120, noRefs: true })}`);
    }
    return 0;
  }
}
