import type { ResolvedConfig, View } from '../types.js';
import type { Redactor } from '../redact.js';

/** `config validate`: the services found, once the config passed every check. */
export function validateView(config: ResolvedConfig): View {
  return {
    kind: 'validate',
    file: config.file ?? null,
    services: config.services.map((s) => ({ name: s.name, technology: s.technology, enabled: s.enabled })),
  };
}

/** `config print`: the resolved config (defaults applied), every secret replaced by ***. */
export function printView(config: ResolvedConfig, redactor: Redactor): View {
  return {
    kind: 'config',
    file: config.file ?? null,
    config: redactor.data({ version: config.version, services: config.services }),
  };
}
