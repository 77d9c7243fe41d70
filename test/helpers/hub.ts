import { LocalPort } from '../../core/LocalPort.js';
import { Redactor } from '../../core/redact.js';
import { resolveConfig } from '../../core/config/resolve.js';
import { builtins } from '../../app/builtins.js';
import type { LocalPortPlugin, ResolvedConfig } from '../../core/types.js';

/** A hub with the built-in plugins (and any extra), as the CLI builds it. */
export async function makeHub(extra: LocalPortPlugin[] = []): Promise<LocalPort> {
  const hub = new LocalPort({ redactor: new Redactor() });
  hub.healthChecks.defaultType = builtins().defaultHealthCheck;
  await hub.use([builtins().plugins, extra]);
  return hub;
}

/** Resolves a raw config through the production pipeline (resolveConfig), with the built-in plugins and any extra. */
export async function resolve(raw: unknown, env: NodeJS.ProcessEnv = {}, extra: LocalPortPlugin[] = []): Promise<{ hub: LocalPort; config: ResolvedConfig }> {
  const { plugins, defaultHealthCheck } = builtins();
  const { hub, config } = await resolveConfig(raw, { file: 'test.yaml', env, plugins: [plugins, extra], defaultHealthCheck, redactor: new Redactor() });
  return { hub, config };
}
