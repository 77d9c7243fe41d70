import { LocalPort } from '../LocalPort.js';
import { Redactor } from '../redact.js';
import type { Logger, PluginInput, ResolvedConfig } from '../types.js';
import { checkBindAddresses } from './bind.js';
import { runConfigCode } from './code.js';
import { substituteEnv } from './env.js';
import { freeFormKeys } from './keys.js';
import { collectExtends, mergeLayers, resolvePluginEntries } from './presets.js';
import { rawPlugins, validateConfig } from './validate.js';

export interface ResolveOptions {
  /** The file `raw` was loaded from: errors name it; relative `extends` and plugin paths start from its directory. */
  file: string;
  /** Where package names are looked up after the config's directory. Default: the working directory. */
  cwd?: string;
  /** For `${VAR}` substitution. Default: process.env. */
  env?: NodeJS.ProcessEnv;
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
  if (ext) {
    // The plugins come first here: the merge asks them which keys hold user data (kept as written).
    await apply(ext.plugins);
    const merged = mergeLayers(ext.layers, freeFormKeys(hub));
    sources = merged.sources;
    substituted = substituteEnv(merged.config, env, hub.redactor, file);
  } else {
    substituted = substituteEnv(raw, env, hub.redactor, file);
    // Substituted first: a plugin's options may hold `${VAR}`.
    await apply(fresh ? await resolvePluginEntries(rawPlugins(substituted), file, cwd) : []);
  }

  const validated = validateConfig(substituted, { file, technologies: hub.technologies, healthChecks: hub.healthChecks, sources });
  await checkBindAddresses(validated, substituted, hub.technologies);
  const config = hub.hooks.configResolved.isUsed()
    ? await runConfigCode(file, `config ${file}`, () => hub.hooks.configResolved.promise(validated), { stage: 'a configResolved tap' })
    : validated;
  return { hub, config, presetFiles: ext?.files ?? [] };
}
