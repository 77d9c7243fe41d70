import { definePlugin, type View } from '../../core/index.js';

const PLUGIN_NAME = 'localport:format-json';

/**
 * The version of every JSON document LocalPort prints (`schemaVersion`, the first key). It changes
 * only when a field is removed or changes meaning; new fields may come without it.
 */
export const SCHEMA_VERSION = 1;

/**
 * Machine output. Field names are stable: `status` → `{ services: [...] }`, `config` → `{ file, config }`,
 * `validate` → `{ valid: true, file, services }`, `logs` → one
 * `{ service, file, time, level, message }` per line, errors → `{ error: { code, message, ... } }`.
 */
export function toJson(view: View): Record<string, unknown> {
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
    case 'export':
      return { file: view.file, ...view.config };
    case 'logs':
      // Rendered as NDJSON, an entry a line (see the formatter); as one document only where toJson is reused.
      return { service: view.service, file: view.file, entries: view.entries };
    case 'logFiles':
      return { logs: view.files };
    case 'stop':
    case 'reload':
    case 'ui':
    case 'daemon': {
      const { kind: _kind, ...body } = view;
      return body;
    }
  }
}

export const jsonFormatterPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerFormatter({
        type: 'json',
        render: (view, { stream }) => {
          // A log is a stream even when it is not followed: one object per entry (NDJSON), never an
          // array, so that `logs -o json` and `logs -f -o json` are read alike, line by line.
          if (view.kind === 'logs') return view.entries.map((entry) => JSON.stringify({ schemaVersion: SCHEMA_VERSION, service: view.service, file: view.file, ...entry })).join('\n');
          const doc = { schemaVersion: SCHEMA_VERSION, ...toJson(view) };
          // A stream item is one line (NDJSON); a document is indented for people who read it.
          return stream ? JSON.stringify(doc) : JSON.stringify(doc, null, 2);
        },
      });
    },
  });
