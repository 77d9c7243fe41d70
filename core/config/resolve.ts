import { LocalPort } from '../LocalPort.js';
import { Redactor } from '../redact.js';
import type { Logger, PluginInput, ResolvedConfig, UnresolvedService } from '../types.js';
import { checkBindAddresses } from './bind.js';
import { runConfigCode } from './code.js';
import { substituteEnv } from './env.js';
import { camel, freeFormKeys } from './keys.js';
import { port as portRule } from './schema.js';
import { pathKeys } from './paths.js';
import { collectExtends, mergeLayers, resolvePluginEntries, type PathDirs } from './presets.js';
import { rawPlugins, validateConfig } from './validate.js';

export interface ResolveOptions {
  /** The file `raw` was loaded from: errors name it; relative `extends` and plugin paths start from its directory. */
  file: string;
  /** Where package names are looked up after the config's directory. Default: the working directory. */
  cwd?: string;
  /** For `${VAR}` substitution. Default: process.env. */
  /** Plugins every config gets before its own: the app's composition root passes the built-in ones. */
  plugins?: PluginInput;
  /** The health check type of a service that names none (the composition root's choice). */
  defaultHealthCheck?: string;
  /** Collects the substituted secrets; pass the one errors are printed through. */
  redactor?: Redactor;
  logger?: Logger;
  /**
   * A hub built by an earlier resolveConfig (the daemon's hot reload): its plugins stay as they are,
   * and the config's `plugins` list is not applied again (a changed list takes effect on a restart).
   */
  hub?: LocalPort;
  /** Runs once the plugins are applied, before the config is validated: a check that needs the registries. */
  onPlugins?: (hub: LocalPort) => void;
  /**
   * `lenient`: a `${VAR}` not set inside a service is no error yet; the service is listed in
   * `config.unresolved` and cannot start (`selectServices(…, { toStart: true })` names the variables).
   * Default `strict`: every variable must be set (`config validate`).
   */
  env?: NodeJS.ProcessEnv;
  variables?: 'strict' | 'lenient';
}

export interface Resolution {
  hub: LocalPort;
  config: ResolvedConfig;
  /** Files of the presets the config extends (the daemon watches them too). */
  presetFiles: string[];
}

/**
 * The one config pipeline, from a loaded raw config to a hub with its plugins applied and the
 * resolved config: `extends` (presets merged left to right, the local file last), the plugins the
 * config and its presets name, `${VAR}` substitution (values go to the redactor), validation against
 * the schemas the plugins registered, the bind address check, and the `configResolved` taps. The CLI,
 * the daemon (start and hot reload), the tests' helpers and the benches all resolve through here.
 */
export async function resolveConfig(raw: unknown, opts: ResolveOptions): Promise<Resolution> {
  const { file, cwd } = opts;
  const env = opts.env ?? process.env;
  const hub = opts.hub ?? new LocalPort({ redactor: opts.redactor ?? new Redactor(), logger: opts.logger });
  const fresh = opts.hub === undefined;
  if (fresh && opts.defaultHealthCheck !== undefined) hub.healthChecks.defaultType = opts.defaultHealthCheck;
  // Plugins' apply() is the config's code too: bounded, process.exit trapped.
  const apply = async (own: unknown[]) => {
    if (!fresh) return;
    const use = () => hub.use([opts.plugins ?? [], own]);
    await (own.length ? runConfigCode(file, `config ${file}`, use, { stage: 'applying its plugins' }) : use());
    opts.onPlugins?.(hub);
  };

  const ext = raw && typeof raw === 'object' ? await collectExtends(raw as Record<string, unknown>, file, cwd) : undefined;
  let substituted: unknown;
  let sources: Map<string, string> | undefined;
  let pathDirs: PathDirs | undefined;
  // Lenient: a variable missing inside a service makes that service unresolved, not the config invalid.
  const missing = new Map<string | number, { problems: UnresolvedService['problems']; variables: string[] }>();
  const templates: { path: readonly (string | number)[]; text: string }[] = [];
  const template = (path: readonly (string | number)[], text: string) => templates.push({ path, text });
  const values: { path: readonly (string | number)[]; value: string; known: boolean }[] = [];
  const onValue = (path: readonly (string | number)[], value: string, known: boolean) => values.push({ path, value, known });
  const lenient =
    opts.variables === 'lenient'
      ? {
          lenient: (path: readonly (string | number)[]) => path[0] === 'services' && path.length > 2,
          missing: (path: readonly (string | number)[], problem: UnresolvedService['problems'][number], variable: string) => {
          const m = missing.get(path[1]) ?? { problems: [], variables: [] };
          m.problems.push(problem);
          if (!m.variables.includes(variable)) m.variables.push(variable);
          missing.set(path[1], m);
        },
      }
    : {};
  if (ext) {
    // The plugins come first here: the merge asks them which keys hold user data (kept as written).
    await apply(ext.plugins);
    const merged = mergeLayers(ext.layers, freeFormKeys(hub), pathKeys(hub));
    sources = merged.sources;
    pathDirs = merged.pathDirs;
    substituted = substituteEnv(merged.config, env, hub.redactor, file, { ...lenient, template, substituted: onValue });
  } else {
    substituted = substituteEnv(raw, env, hub.redactor, file, { ...lenient, template, substituted: onValue });
    // Substituted first: a plugin's options may hold `${VAR}`.
    await apply(fresh ? await resolvePluginEntries(rawPlugins(substituted), file, cwd) : []);
  }

  const unresolved = unresolvedServices(substituted, missing);
  // Only what the missing variables break is tolerated (the keys they are used in): any other problem of
  // such a service is an error as for every service, so a reload never drops one silently.
  const tolerate = new Map(unresolved.map((u) => [u.name, u.problems.map((p) => p.path)]));
  const validated = validateConfig(substituted, { file, technologies: hub.technologies, healthChecks: hub.healthChecks, sources, pathDirs, tolerate });
  if (unresolved.length) validated.unresolved = unresolved;
  validated.templates = serviceTemplates(substituted, templates);
  await checkBindAddresses(validated, substituted, hub.technologies);
  releaseNumbers(hub.redactor, values, validated, substituted);
  const config = hub.hooks.configResolved.isUsed()
    ? await runConfigCode(file, `config ${file}`, () => hub.hooks.configResolved.promise(validated), { stage: 'a configResolved tap' })
    : validated;
  return { hub, config, presetFiles: ext?.files ?? [] };
}

/** Made on first use: most configs leave no service unresolved. */
let portSchema: ReturnType<typeof portRule> | undefined;

/** The services a lenient substitution left with missing variables: their name, whether enabled, their tags. */
function unresolvedServices(substituted: unknown, missing: Map<string | number, { problems: UnresolvedService['problems']; variables: string[] }>): UnresolvedService[] {
  const services = substituted && typeof substituted === 'object' ? (substituted as Record<string, unknown>).services : undefined;
  const out: UnresolvedService[] = [];
  for (const [key, { problems, variables }] of missing) {
    const entry = (Array.isArray(services) ? services[key as number] : (services as Record<string, unknown> | undefined)?.[key as string]) as Record<string, unknown> | undefined;
    const name = typeof key === 'string' ? key : typeof entry?.name === 'string' ? entry.name : `#${key}`;
    // The schema's own port rule: a port that is not one (or still a ${VAR}) is left out.
    const port = (k: string) => (portSchema ??= portRule()).safeParse(entry?.[k] ?? entry?.[camel(k)]).data;
    const technology = entry?.technology;
    const localPort = port('local_port');
    const remotePort = port('remote_port');
    out.push({
      name,
      enabled: entry?.enabled !== false && entry?.enabled !== 'false',
      tags: Array.isArray(entry?.tags) ? entry.tags.filter((t): t is string => typeof t === 'string') : [],
      variables,
      problems,
      ...(typeof technology === 'string' && !technology.includes('${') ? { technology } : {}),
      ...(localPort !== undefined ? { localPort } : {}),
      ...(remotePort !== undefined ? { remotePort } : {}),
    });
  }
  return out;
}

/** The templates of `substituteEnv`, by service name and key path inside the service. */
function serviceTemplates(substituted: unknown, templates: { path: readonly (string | number)[]; text: string }[]): Record<string, { path: string[]; text: string }[]> {
  const services = substituted && typeof substituted === 'object' ? (substituted as Record<string, unknown>).services : undefined;
  const out: Record<string, { path: string[]; text: string }[]> = {};
  for (const { path, text } of templates) {
    if (path[0] !== 'services' || path.length < 3) continue;
    const key = path[1];
    const entry = (Array.isArray(services) ? services[key as number] : (services as Record<string, unknown> | undefined)?.[key as string]) as Record<string, unknown> | undefined;
    const name = typeof key === 'string' ? key : typeof entry?.name === 'string' ? entry.name : undefined;
    if (name === undefined) continue;
    (out[name] ??= []).push({ path: path.slice(2).map(String), text });
  }
  return out;
}

/**
 * Numbers and booleans are never secrets (core/redact.ts): a value from the environment that went only
 * into fields that validated as a number or true/false (a port, a timeout, `enabled`) is released, unless
 * the redactor knew it as a secret before this resolution (an earlier load put it in a string). A value
 * that also went into a string, or into a service that did not validate, stays a secret.
 */
function releaseNumbers(redactor: Redactor, values: { path: readonly (string | number)[]; value: string; known: boolean }[], config: ResolvedConfig, substituted: unknown): void {
  const numeric = new Map<string, boolean>();
  for (const { path, value, known } of values) {
    const found = known ? [] : validatedValues(config, substituted, path);
    const plain = found.length > 0 && found.every((v) => typeof v === 'number' || typeof v === 'boolean');
    numeric.set(value, (numeric.get(value) ?? true) && plain);
  }
  for (const [value, plain] of numeric) if (plain) redactor.release(value);
}

/** The validated values a raw key path became: one for a service's key, one per service for a `defaults` key. */
function validatedValues(config: ResolvedConfig, substituted: unknown, path: readonly (string | number)[]): unknown[] {
  const walk = (node: unknown, rest: readonly (string | number)[]): unknown => {
    for (const seg of rest) {
      if (!node || typeof node !== 'object') return undefined;
      const o = node as Record<string | number, unknown>;
      node = seg in o ? o[seg] : o[camel(String(seg))];
    }
    return node;
  };
  const [top, key, ...rest] = path;
  if (top === 'services') {
    const services = (substituted as Record<string, unknown>).services;
    const entry = Array.isArray(services) ? services[key as number] : undefined;
    const name = typeof key === 'string' ? key : entry && typeof entry === 'object' ? (entry as Record<string, unknown>).name : undefined;
    const def = config.services.find((s) => s.name === name);
    return def === undefined || (config.unresolved ?? []).some((u) => u.name === name) ? [] : [walk(def, rest)];
  }
  if (top === 'defaults' && key !== undefined) return config.services.map((def) => walk(def, [key, ...rest])).filter((v) => v !== undefined);
  if (top === 'ui') return [walk(config.ui, [key, ...rest].filter((k) => k !== undefined))];
  return [];
}
