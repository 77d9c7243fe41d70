import { LocalPort } from '../../core/LocalPort.js';
import { Redactor } from '../../core/redact.js';
import { validateConfig } from '../../core/config/validate.js';
import { substituteEnv } from '../../core/config/env.js';
import { defaultPreset } from '../../presets/default/index.js';
import type { LocalPortPlugin, ResolvedConfig } from '../../core/types.js';

/** A hub with the built-in plugins (and any extra), as the CLI builds it. */
export async function makeHub(extra: LocalPortPlugin[] = []): Promise<LocalPort> {
  const hub = new LocalPort({ redactor: new Redactor() });
  await hub.use([defaultPreset().plugins, extra]);
  return hub;
}

/** Substitutes and validates a raw config with the built-in plugins. */
export async function resolve(raw: unknown, env: NodeJS.ProcessEnv = {}, extra: LocalPortPlugin[] = []): Promise<{ hub: LocalPort; config: ResolvedConfig }> {
  const hub = await makeHub(extra);
  const substituted = substituteEnv(raw, env, hub.redactor, 'test.yaml');
  return { hub, config: validateConfig(substituted, { file: 'test.yaml', technologies: hub.technologies, healthChecks: hub.healthChecks }) };
}
