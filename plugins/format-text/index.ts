import yaml from 'js-yaml';
import { definePlugin, printable, type ServiceDefinition, type ServiceStatus, type View } from '../../core/index.js';

const PLUGIN_NAME = 'localport:format-text';

/**
 * One field of a line. Fields are separated by one space, so a field holds none: a space, tab,
 * newline, carriage return and `%` are written as `%20`, `%09`, `%0A`, `%0D` and `%25` (URL
 * percent-encoding, which `printf '%b'` or any URL decoder reverses), other control characters as
 * printable() writes them. An empty or missing value is `-`; a value that is `-` itself is `%2D`.
 */
export function field(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  const text = String(value);
  if (text === '-') return '%2D';
  return printable(text.replace(/[%\t\n\r ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`));
}

const line = (...fields: (string | number | boolean | null | undefined)[]) => fields.map(field).join(' ');

/** `healthy`, `unhealthy`, `unknown`, or none (`-`) when nothing is checked (the service is not ready). */
const healthOf = (s: ServiceStatus) => (s.health && s.state === 'ready' ? s.health.state : null);
const lastErrorOf = (s: ServiceStatus) => (s.state === 'ready' && s.health?.state === 'unhealthy' ? s.health.message : s.lastError);

/** status: name state health local-address:port pid restarts technology target since last-error connection (new fields go last). */
export const statusLine = (s: ServiceStatus) =>
  line(s.name, s.state, healthOf(s), s.localPort == null ? null : `${s.localAddress}:${s.localPort}`, s.pid, s.restarts, s.technology, s.target, s.since, lastErrorOf(s), s.connection?.id);

/** config print: name technology enabled|disabled local-port remote-port health-check tags source. */
const serviceLine = (s: ServiceDefinition) =>
  line(s.name, s.technology, s.enabled ? 'enabled' : 'disabled', s.localPort, s.remotePort, s.healthCheck?.type, s.tags.join(','), s.source);

function render(view: View): string {
  switch (view.kind) {
    case 'status':
      return view.services.map(statusLine).join('\n');
    case 'config':
      return ((view.config as { services?: ServiceDefinition[] }).services ?? []).map(serviceLine).join('\n');
    case 'validate':
      return view.services.map((s) => line(s.name, s.technology, s.enabled ? 'enabled' : 'disabled')).join('\n');
    case 'doctor':
      // The check, what it is about and its services apart, so a script can split them; the message last.
      return view.checks.map((c) => line(c.ok ? 'ok' : c.required ? 'fail' : 'warn', c.technology, c.check ?? c.name, c.subject, c.services?.join(','), c.detail)).join('\n');
    case 'logFiles':
      return view.files.map((f) => line(f.name, f.bytes, f.modified, f.file)).join('\n');
    case 'logs':
      // A log line is text to read or grep: its message is the rest of the line, as written.
      return view.entries.map((e) => `${field(e.time)} ${field(e.level)} ${printable(e.message)}`).join('\n');
    case 'stop':
      return view.stopped.map((name) => line(name, 'stopped')).join('\n');
    case 'reload':
      if (view.superseded) return 'superseded';
      return [
        ...view.added.map((n) => line(n, 'added')),
        ...view.removed.map((n) => line(n, 'removed')),
        ...view.changed.map((n) => line(n, 'changed')),
        ...view.unchanged.map((n) => line(n, 'unchanged')),
      ].join('\n');
    case 'daemon':
      switch (view.action) {
        case 'start':
          return line(view.started ? 'started' : 'already-running', view.pid, view.config);
        case 'stop':
          return line(view.stopped ? 'stopped' : 'not-running', view.pid, view.config, view.ms);
        case 'restart':
          return line('restarted', view.pid, view.config, view.restarted.join(','));
        case 'status': {
          const counts = Object.entries(view.services ?? {}).map(([state, n]) => `${state}=${n}`).join(',');
          return line(view.running ? 'running' : 'not-running', view.pid, view.config, view.socket, counts, view.reloadError);
        }
      }
      return '';
    case 'ui':
      // The URL alone: `open "$(localport ui --no-open -o text)"`.
      return view.url;
    case 'export':
      // A file format, not a listing: the same YAML as the default output, without its comment line.
      return yaml.dump(view.config, { lineWidth: 120, noRefs: true }).trimEnd();
    case 'error': {
      // One line per line of the message, each `error CODE ...`; then the hint, and a bug's stack.
      const head = view.message.split('\n').map((m) => `error ${field(view.code)} ${printable(m)}`);
      const hint = view.hint ? [`hint ${printable(view.hint)}`] : [];
      const stack = view.stack ? [printable(view.stack)] : [];
      const report = view.reportTo ? [`report-to ${field(view.reportTo === 'localport' ? 'localport' : view.reportTo.plugin)}`] : [];
      return [...head, ...hint, ...stack, ...report].join('\n');
    }
  }
}

/**
 * Output for scripts (`--output text`): one plain line per item (a service, a check, a log file),
 * fields separated by one space in a fixed order, no header and no colour. The field order of each
 * view is documented in the README ("Output formats"); new fields are only ever added at the end.
 */
export const textFormatterPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerFormatter({ type: 'text', render: (view) => render(view) });
    },
  });
