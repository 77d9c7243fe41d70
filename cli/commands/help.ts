import { Command, Option, type Definition } from 'clipanion';

/**
 * A command group's help (`localport help config`, `localport daemon --help`): each command under it,
 * its usage line and what it does, as the command list shows them; undefined when `words` are no group
 * (a command itself, or nothing known).
 */
export function groupHelp(definitions: Definition[], words: readonly string[]): string | undefined {
  const prefix = `localport ${words.join(' ')} `;
  const under = definitions.filter((d) => d.path.startsWith(prefix) && !d.path.slice(prefix.length).startsWith('-'));
  if (words.length === 0 || under.length === 0 || definitions.some((d) => d.path === prefix.trimEnd())) return undefined;
  // A definition's usage holds the path and the operands; its options (all described) are listed apart.
  const line = (d: Definition) => [d.path, ...d.options.map((o) => (o.required ? `<${o.definition}>` : `[${o.definition}]`)), d.usage.slice(d.path.length).trim()].filter(Boolean).join(' ');
  const commands = under.map((d) => `  ${line(d)}\n    ${(d.description ?? '').trim()}\n`).join('\n');
  return `${prefix.trimEnd()}: ${under.map((d) => d.path.slice(prefix.length)).join(', ')}\n\n${commands}\nlocalport help ${words.join(' ')} COMMAND shows one command's options and examples.\n`;
}
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
    const group = groupHelp(this.cli.definitions(), this.command);
    if (group !== undefined) {
      this.context.stdout.write(group);
      return 0;
    }
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
