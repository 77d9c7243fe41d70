import { Cli, type BaseContext, type CommandClass } from 'clipanion';

/**
 * What each option's value is, as help shows it (`--config FILE`). clipanion 3 has no way to name an
 * option's value and prints `#0`; the usage lines are built here instead, from the same definitions.
 * An option missing here keeps clipanion's `#0`, which the help snapshot test refuses.
 */
export const VALUE_NAMES: Readonly<Record<string, string>> = {
  '--config': 'FILE',
  '--output': 'FORMAT',
  '--log-level': 'LEVEL',
  '--tag': 'TAG',
  '--timeout': 'SECONDS',
  '--events': 'FILE',
  '--interval': 'SECONDS',
  '--lines': 'N',
  '--grep': 'REGEX',
  '--only': 'SERVICE',
  '--ui-port': 'PORT',
  '--port': 'PORT',
};

/** A command's operands that clipanion never sees: `run`'s `-- COMMAND…` (main.ts takes it off argv). */
export interface TrailingOperands {
  trailingOperands?: string;
}

interface Builder {
  options: { names: string[]; arity: number; hidden: boolean; description?: string; required: boolean }[];
  arity: { leading: string[]; extra: string[] | symbol; trailing: string[] };
  paths: string[][];
  cliOpts: { binaryName: string };
}

interface Registration {
  builder: Builder & { usage: (opts?: { detailed?: boolean; inlineOptions?: boolean }) => { usage: string; options: { definition: string; description: string; required: boolean }[] } };
  specs: Map<string, { definition: (builder: unknown, key: string) => void }>;
}

/** The name an `Option.Rest({ name })` or `Option.Proxy({ name })` was given: clipanion keeps it only for required ones. */
function restName(specs: Registration['specs']): string | undefined {
  let name: string | undefined;
  const probe = new Proxy({}, {
    get: (_, method) => (arg?: { name?: string }) => {
      if (method === 'addRest' || method === 'addProxy') name = arg?.name;
    },
  });
  for (const [key, spec] of specs) spec.definition(probe, key);
  return name;
}

/** clipanion's CommandBuilder.usage, with named values and named operands. */
function usage(builder: Builder, rest: string | undefined, trailing: string | undefined, { detailed = true, inlineOptions = true } = {}) {
  const segments = [builder.cliOpts.binaryName, ...(builder.paths[0] ?? [])];
  const options: { definition: string; description: string; required: boolean }[] = [];
  if (detailed) {
    for (const { names, arity, hidden, description, required } of builder.options) {
      if (hidden) continue;
      const value = VALUE_NAMES[names.find((n) => n.startsWith('--')) ?? names[0]];
      const args = Array.from({ length: arity }, (_, t) => ` ${value ?? `#${t}`}`);
      const definition = `${names.join(',')}${args.join('')}`;
      if (!inlineOptions && description) options.push({ definition, description, required });
      else segments.push(required ? `<${definition}>` : `[${definition}]`);
    }
    segments.push(...builder.arity.leading.map((name) => `<${name}>`));
    if (Array.isArray(builder.arity.extra)) segments.push(...builder.arity.extra.map((name) => `[${name}]`));
    else segments.push(rest ? `[${rest}...]` : '...');
    segments.push(...builder.arity.trailing.map((name) => `<${name}>`));
    if (trailing) segments.push(trailing);
  }
  return { usage: segments.join(' '), options: wrapDescriptions(options) };
}

/** The width help is fitted to: the terminal's, else COLUMNS; piped without COLUMNS, none (grep sees whole lines). */
const helpColumns = () => (process.stdout.isTTY && process.stdout.columns) || Number(process.env.COLUMNS) || Infinity;

/**
 * Option descriptions wrapped to the terminal, under their own column: clipanion prints each on one
 * line after the padded definitions, which a terminal breaks mid-word at its edge. clipanion's
 * markdown pass turns a blank line into a line break and removes single ones, hence "\n\n".
 */
function wrapDescriptions(options: { definition: string; description: string; required: boolean }[]) {
  if (!options.length) return options;
  // clipanion's layout: two spaces, the definitions padded to the longest, four spaces, the description.
  const indent = 2 + Math.max(...options.map((o) => o.definition.length)) + 4;
  const room = helpColumns() - indent - 1;
  if (room < 24) return options;
  return options.map((o) => {
    const lines: string[] = [];
    let line = '';
    for (const word of o.description.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > room) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    if (line) lines.push(line);
    return { ...o, description: lines.join(`\n\n${' '.repeat(indent)}`) };
  });
}

export class LocalPortCli<Context extends BaseContext = BaseContext> extends Cli<Context> {
  /**
   * Help with no line past the terminal's edge: clipanion cuts paragraphs into 80 characters plus the
   * space after them, and draws its section rules 80 wide.
   */
  override usage(...args: Parameters<Cli<Context>['usage']>): string {
    return super.usage(...args).replace(/ +((?:\x1b\[[0-9;]*m)*)$/gm, '$1');
  }

  override format(colored?: boolean): ReturnType<Cli<Context>['format']> {
    const base = super.format(colored);
    const plain = base.header('x') === 'x';
    if (plain) return base;
    const width = Math.min(80, helpColumns() - 1);
    return { ...base, header: (str: string) => `\x1b[1m━━━ ${str} ${'━'.repeat(Math.max(0, width - str.length - 5))}\x1b[0m` };
  }

  override register(commandClass: CommandClass<Context>): void {
    super.register(commandClass);
    const registration = this.registrations.get(commandClass) as unknown as Registration;
    const rest = restName(registration.specs);
    const trailing = (commandClass as TrailingOperands).trailingOperands;
    // Every place clipanion prints a usage line (help, the command list, a parse error) asks the builder.
    registration.builder.usage = (opts) => usage(registration.builder, rest, trailing, opts);
  }
}
