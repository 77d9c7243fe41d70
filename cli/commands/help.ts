import { Command, Option } from 'clipanion';
import { UsageError } from '../../core/errors.js';

/**
 * `localport help [COMMAND]`: what `localport [COMMAND] --help` prints, for those who type it the
 * way git and npm accept it. Not a BaseCommand: it takes no config and renders no View.
 */
export class HelpCommand extends Command {
  static override paths = [['help']];

  static override usage = Command.Usage({
    description: 'Show the commands, or one command\'s options and examples',
    examples: [
      ['Every command', '$0 help'],
      ['How to use run', '$0 help run'],
      ['How to use daemon status', '$0 help daemon status'],
    ],
  });

  command = Option.Rest({ name: 'COMMAND' });

  async execute(): Promise<number> {
    if (this.command.length === 0) return this.cli.run(['--help']);
    const known = this.cli.definitions().map((d) => d.path.split(' ').slice(1).join(' '));
    const asked = this.command.join(' ');
    if (!known.includes(asked) || asked.startsWith('-')) {
      const { didYouMean } = await import('../../core/suggest.js');
      const error = new UsageError(`unknown command '${asked}'${didYouMean(asked, known.filter((k) => !k.startsWith('-')))}`, 'localport help lists the commands.');
      const { errorView, exitCodeOf, render } = await import('../../app/output.js');
      const { builtinHub } = await import('../../app/project.js');
      const { useColor } = await import('../BaseCommand.js');
      this.context.stderr.write(`${render(await builtinHub(), 'table', errorView(error), useColor(this.context.stderr))}\n`);
      return exitCodeOf(error);
    }
    return this.cli.run([...this.command, '--help']);
  }
}
