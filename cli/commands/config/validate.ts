import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigValidateCommand extends BaseCommand {
  static override paths = [['config', 'validate']];
  static override pluginFormats = true;

  static override usage = Command.Usage({
    category: 'Config',
    description: 'Check the config: syntax, every key, every service, every ${VAR}',
    details: 'Prints one line per problem, with the file and the key path, and exits 2 if there is any.',
    examples: [
      ['Validate the config found in this directory', '$0 config validate'],
      ['Validate a given file, as JSON', '$0 --config localport.yaml config validate --output json'],
    ],
  });

  async run(): Promise<number> {
    const [{ loadProject, render }, { validateView }] = await Promise.all([import('../../../app/project.js'), import('../../../app/configView.js')]);
    const { hub, config } = await loadProject({ configPath: this.configPath, logLevel: this.logLevel, redactor: this.redactor, output: this.output });
    this.context.stdout.write(`${render(hub, this.output, validateView(config), this.color)}\n`);
    return 0;
  }
}
