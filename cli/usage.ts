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
  return { usage: segments.join(' '), options };
}

export class LocalPortCli<Context extends BaseContext = BaseContext> extends Cli<Context> {
  override register(commandClass: CommandClass<Context>): void {
    super.register(commandClass);
    const registration = this.registrations.get(commandClass) as unknown as Registration;
    const rest = restName(registration.specs);
    const trailing = (commandClass as TrailingOperands).trailingOperands;
    // Every place clipanion prints a usage line (help, the command list, a parse error) asks the builder.
    registration.builder.usage = (opts) => usage(registration.builder, rest, trailing, opts);
  }
}
