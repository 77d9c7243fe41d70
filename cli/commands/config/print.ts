import { Command } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigPrintCommand extends BaseCommand {
  static override paths = [['config', 'print']];
  static override pluginFormats = true;

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
    const [{ loadProject, render }, { printView }] = await Promise.all([import('../../../app/project.js'), import('../../../app/configView.js')]);
    const { hub, config } = await loadProject({ configPath: this.configPath, logLevel: this.logLevel, redactor: this.redactor, output: this.output });
    this.context.stdout.write(`${render(hub, this.output, printView(config, hub.redactor), this.color)}\n`);
    return 0;
  }
}
