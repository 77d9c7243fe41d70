import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigValidateCommand extends BaseCommand {
  static override paths = [['config', 'validate']];

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
    const { validateView } = await import('../../../app/configView.js');
    const { config } = await this.loadProject();
    await this.show(validateView(config));
    return 0;
  }
}
