import { definePlugin, type View } from '../../core/index.js';

const PLUGIN_NAME = 'localport:format-json';

/**
 * Machine output. Field names are stable: `status` → `{ services: [...] }`, `config` → `{ file, config }`,
 * `validate` → `{ valid: true, file, services }`, errors → `{ error: { code, message, ... } }`.
 */
export function toJson(view: View): unknown {
  switch (view.kind) {
    case 'status':
      return view.runner === undefined
        ? { services: view.services }
        : { running: view.runner !== null, runner: view.runner, config: view.config ?? null, reloadError: view.reloadError ?? null, services: view.services };
    case 'config':
      return { file: view.file, config: view.config };
    case 'validate':
      return { valid: true, file: view.file, services: view.services };
    case 'doctor':
      return { ok: view.checks.every((c) => c.ok || !c.required), file: view.file, checks: view.checks };
    case 'error': {
      const { kind: _kind, ...error } = view;
      return { error };
    }
  }
}

export const jsonFormatterPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerFormatter({ type: 'json', render: (view) => JSON.stringify(toJson(view), null, 2) });
    },
  });
