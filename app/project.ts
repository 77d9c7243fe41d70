import { loadRawConfig } from '../core/config/load.js';
import { resolveConfig } from '../core/config/resolve.js';
import { LocalPort } from '../core/LocalPort.js';
import { createLogger, type FileLogger, type LogLevel } from '../core/log.js';
import { Redactor } from '../core/redact.js';
import type { ResolvedConfig } from '../core/types.js';
import { builtins } from './builtins.js';
import { checkFormat } from './output.js';

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
  /**
   * `strict`: every `${VAR}` must be set (`config validate`). Default `lenient`: a service whose
   * variables are not set is unresolved, and only starting it is an error (`selectServices(…, { toStart })`).
   */
  variables?: 'strict' | 'lenient';
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
  const { logger, file: logFile } = await createLogger(redactor, { level: opts.logLevel, file: opts.logFile });
  const { hub, config, presetFiles } = await resolveConfig(raw, {
    ...builtins(),
    file,
    cwd: opts.cwd,
    env: opts.env,
    variables: opts.variables ?? 'lenient',
    redactor,
    logger,
    // Before any work (run and start would otherwise start tunnels and then fail to print).
    onPlugins: opts.output === undefined ? undefined : (h) => checkFormat(h, opts.output!),
  });
  logger.debug({ file, services: config.services.map((s) => s.name) }, 'config loaded');
  return { hub, config, logger, logFile, presetFiles };
}

/**
 * Loads the config file again against an existing hub (the daemon's hot reload). Plugins were applied
 * when the hub was built; a changed `plugins` list takes effect on `localport daemon restart`.
 */
export async function reloadConfig(hub: LocalPort, configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<{ config: ResolvedConfig; presetFiles: string[] }> {
  const { file, raw } = await loadRawConfig({ configPath });
  const { config, presetFiles } = await resolveConfig(raw, { file, env, hub, variables: 'lenient' });
  return { config, presetFiles };
}

export { render } from './output.js';

/**
 * A hub with only the built-in plugins: enough to render output when the config is not loaded.
 * `redactor`: the command's, so that what it collected is redacted from what this hub renders.
 */
export async function builtinHub(redactor?: Redactor): Promise<LocalPort> {
  const hub = new LocalPort({ redactor });
  await hub.use(builtins().plugins);
  return hub;
}
