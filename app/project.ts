import { checkBindAddresses } from '../core/config/bind.js';
import { runConfigCode } from '../core/config/code.js';
import { loadRawConfig } from '../core/config/load.js';
import { substituteEnv } from '../core/config/env.js';
import { rawPlugins, validateConfig } from '../core/config/validate.js';
import { resolveExtends, resolvePluginEntries } from '../core/config/presets.js';
import { LocalPort } from '../core/LocalPort.js';
import { createLogger, type FileLogger, type LogLevel } from '../core/log.js';
import { Redactor } from '../core/redact.js';
import type { ResolvedConfig } from '../core/types.js';
import { checkFormat } from './output.js';
import { defaultPreset } from '../presets/default/index.js';

export interface ProjectOptions {
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logLevel?: LogLevel;
  /** Collects the secrets substituted; pass the one the caller prints errors through. */
  redactor?: Redactor;
  /** Log file to write to (default: the main log). */
  logFile?: string;
  /** The `--output` format the command will render with: checked once the config's plugins are in. */
  output?: string;
}

export interface Project {
  hub: LocalPort;
  config: ResolvedConfig;
  logger: FileLogger;
  logFile: string;
  /** Files of the presets the config extends (the daemon watches them too). */
  presetFiles: string[];
}

/**
 * Everything a command needs: the config found, `${VAR}`-substituted and validated against the
 * schemas of the plugins it brings, the hub with those plugins applied, and a file logger whose
 * output is redacted.
 */
export async function loadProject(opts: ProjectOptions = {}): Promise<Project> {
  const redactor = opts.redactor ?? new Redactor();
  const { file, raw } = await loadRawConfig({ configPath: opts.configPath, cwd: opts.cwd });
  const ext = await resolveExtends(raw as Record<string, unknown>, file, opts.cwd);
  const substituted = substituteEnv(ext.raw, opts.env ?? process.env, redactor, file);
  const { logger, file: logFile } = await createLogger(redactor, { level: opts.logLevel, file: opts.logFile });
  const hub = new LocalPort({ redactor, logger });
  const plugins = await resolvePluginEntries(rawPlugins(substituted), file, opts.cwd);
  // Plugins' apply() and configResolved taps are the config's code too: bounded, process.exit trapped.
  const use = () => hub.use([defaultPreset().plugins, plugins]);
  await (plugins.length ? runConfigCode(file, `config ${file}`, use, { stage: 'applying its plugins' }) : use());
  // Before any work (run and start would otherwise start tunnels and then fail to print).
  if (opts.output !== undefined) checkFormat(hub, opts.output);
  const config = await resolveWith(hub, file, substituted, ext.sources);
  logger.debug({ file, services: config.services.map((s) => s.name) }, 'config loaded');
  return { hub, config, logger, logFile, presetFiles: ext.files };
}

async function resolveWith(hub: LocalPort, file: string, substituted: unknown, sources?: Map<string, string>): Promise<ResolvedConfig> {
  const validated = validateConfig(substituted, { file, technologies: hub.technologies, healthChecks: hub.healthChecks, sources });
  await checkBindAddresses(validated, substituted, hub.technologies);
  if (!hub.hooks.configResolved.isUsed()) return validated;
  return runConfigCode(file, `config ${file}`, () => hub.hooks.configResolved.promise(validated), { stage: 'a configResolved tap' });
}

/**
 * Loads the config file again against an existing hub (the daemon's hot reload). Plugins were applied
 * when the hub was built; a changed `plugins` list takes effect on `localport daemon restart`.
 */
export async function reloadConfig(hub: LocalPort, configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<{ config: ResolvedConfig; presetFiles: string[] }> {
  const { file, raw } = await loadRawConfig({ configPath });
  const ext = await resolveExtends(raw as Record<string, unknown>, file);
  return { config: await resolveWith(hub, file, substituteEnv(ext.raw, env, hub.redactor, file), ext.sources), presetFiles: ext.files };
}

export { render } from './output.js';

/**
 * A hub with only the built-in plugins: enough to render output when the config is not loaded.
 * `redactor`: the command's, so that what it collected is redacted from what this hub renders.
 */
export async function builtinHub(redactor?: Redactor): Promise<LocalPort> {
  const hub = new LocalPort({ redactor });
  await hub.use(defaultPreset().plugins);
  return hub;
}
