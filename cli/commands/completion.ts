import { Command, Option } from 'clipanion';
import { UsageError } from '../../core/errors.js';
import { BaseCommand } from '../BaseCommand.js';

/** `localport completion bash|zsh|fish`: the script that makes Tab complete commands, options, services and tags. */
export class CompletionCommand extends BaseCommand {
  static override paths = [['completion']];

  static override usage = Command.Usage({
    description: 'Print the shell completion script for bash, zsh or fish',
    details: `
      The script completes commands, options, output formats, and the service names and tags of the
      config in the current directory (it asks \`localport\` on each Tab, so it stays current).
    `,
    examples: [
      ['bash: add to ~/.bashrc', 'source <(localport completion bash)'],
      ['zsh: add to ~/.zshrc, after compinit', 'source <(localport completion zsh)'],
      ['fish: install once', 'localport completion fish > ~/.config/fish/completions/localport.fish'],
    ],
  });

  shell = Option.String({ name: 'SHELL', required: true });

  async run(): Promise<number> {
    const { SHELLS, completionScript } = await import('../../app/completion.js');
    const shell = this.shell as (typeof SHELLS)[number];
    if (!SHELLS.includes(shell)) {
      // A typo (`bsh`) gets its shell; another shell (`tcsh`, two edits from bash) only the list: "did you
      // mean 'bash'?" would tell a tcsh user that bash's script is theirs.
      const { editDistance } = await import('../../core/suggest.js');
      const typo = SHELLS.find((s) => editDistance(this.shell.toLowerCase(), s) <= 1);
      throw new UsageError(`unknown shell '${this.shell}'; completion is available for ${SHELLS.join(', ')} only${typo ? `; did you mean '${typo}'?` : ''}`, 'localport completion --help shows how to load it in each.');
    }
    this.context.stdout.write(completionScript(shell));
    return 0;
  }
}

/** Which operands each command takes, for completion. */
const OPERANDS: Record<string, 'services' | 'service' | 'commands' | 'shells'> = {
  run: 'services',
  start: 'services',
  restart: 'services',
  stop: 'services',
  status: 'services',
  logs: 'service',
  events: 'services',
  help: 'commands',
  completion: 'shells',
};

/**
 * `localport __complete INDEX WORD...`: what the completion scripts call on Tab. One candidate per line
 * (or `:files`). Hidden: no usage. It never fails loudly: a config that does not load completes without
 * its services.
 */
export class CompleteCommand extends Command {
  static override paths = [['__complete']];

  index = Option.String({ required: true });
  words = Option.Proxy();

  async execute(): Promise<number> {
    const { candidates, FILES } = await import('../../app/completion.js');
    const specs = this.cli
      .definitions()
      .map((d) => {
        const path = d.path.split(' ').slice(1);
        return {
          path,
          options: d.options.map((o) => ({ names: o.definition.split(' ')[0].split(','), takesValue: o.definition.includes(' ') })),
          operands: OPERANDS[path.join(' ')] ?? ('none' as const),
        };
      })
      .filter((s) => s.path.length > 0 && !s.path[0].startsWith('-'));
    const index = Number(this.index);
    if (!Number.isInteger(index) || index < 0) return 0;
    // A config whose code never settles must not freeze the shell on Tab: after 2 s, commands and options only.
    const fallback = { services: [] as string[], tags: [] as string[], formats: ['table', 'json', 'text'], logLevels: [] as string[] };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof fallback>((resolve) => (timer = setTimeout(() => resolve(fallback), 2000)));
    const from = await Promise.race([source(this.words), late]);
    clearTimeout(timer);
    const result = candidates(specs, this.words, index, from);
    // One candidate per line, and only printable ones: a name a shell would read as two words, or a
    // terminal as a command, is no candidate (an unvalidated name from a config that does not resolve).
    const plain = (c: string) => c.length > 0 && c.length <= 200 && !/[\x00-\x20\x7f-\x9f]/.test(c);
    this.context.stdout.write(result === FILES ? `${FILES}\n` : result.filter(plain).map((c) => `${c}\n`).join(''));
    return 0;
  }
}

/** Services, tags and formats of the config the words name (`-c FILE`) or the current directory's. */
async function source(words: string[]) {
  const { LOG_LEVELS } = await import('../../core/log.js');
  const at = words.findIndex((w) => w === '-c' || w === '--config');
  const configPath = at >= 0 ? words[at + 1] : words.find((w) => w.startsWith('--config='))?.slice('--config='.length);
  const result = { services: [] as string[], tags: [] as string[], formats: ['table', 'json', 'text'], logLevels: [...LOG_LEVELS] };
  try {
    const { loadProject } = await import('../../app/project.js');
    const { config, hub } = await loadProject({ configPath, logLevel: 'silent' });
    // A service whose variables are unset here is still one the user may name.
    result.services = [...new Set([...config.services.map((s) => s.name), ...(config.unresolved ?? []).map((u) => u.name)])];
    result.tags = [...new Set(config.services.flatMap((s) => s.tags))];
    result.formats = hub.formatters.types();
    return result;
  } catch {
    // A config that does not resolve (a ${VAR} unset here, a preset missing): names and tags as written.
  }
  try {
    const { loadRawConfig } = await import('../../core/config/load.js');
    const raw = (await loadRawConfig({ configPath })).raw as { services?: unknown };
    const list = Array.isArray(raw?.services) ? raw.services : raw?.services && typeof raw.services === 'object' ? Object.entries(raw.services).map(([name, s]) => ({ name, ...(s as object) })) : [];
    for (const s of list as { name?: unknown; tags?: unknown }[]) {
      if (typeof s?.name === 'string') result.services.push(s.name);
      if (Array.isArray(s?.tags)) result.tags.push(...s.tags.filter((t): t is string => typeof t === 'string'));
    }
    result.tags = [...new Set(result.tags)];
  } catch {
    /* no config here: commands and options only */
  }
  return result;
}
