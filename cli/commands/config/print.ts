import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigPrintCommand extends BaseCommand {
  static override paths = [['config', 'print']];

  static override usage = Command.Usage({
    category: 'Config',
    description: 'Print the resolved config, defaults applied and secrets redacted',
    details: 'Every value substituted from the environment is shown as ***.',
    examples: [
      ['Print the resolved config', '$0 config print'],
      ['As JSON, for scripts', '$0 config print --output json'],
    ],
  });

  async run(): Promise<number> {
    const { printView } = await import('../../../app/configView.js');
    const { config } = await this.loadProject();
    await this.show(printView(config));
    return 0;
  }
}
