import { createRequire } from 'node:module';
import yaml from 'js-yaml';

/*
 * string-width and cli-truncate cost ~25 ms to load: they are required (Node 20.19+ loads ES modules
 * with require) only for a cell that is not plain ASCII, and only when a cell must be cut.
 */
const load = createRequire(import.meta.url);
/** Our own colour codes (the only escapes in a cell: the rest is made printable first). */
const SGR = /\x1b\[[0-9;]*m/g;
/**
 * A library's default export, required on first use. Where require cannot load an ES module (a test
 * sandbox that replaces Node's require), `fallback` stands in: widths counted in code points, cells cut
 * by them.
 */
function lazy<T>(name: string, fallback: T): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = (load(name) as { default: T }).default;
      } catch {
        loaded = fallback;
      }
    }
    return loaded;
  };
}
const wide = lazy<(s: string) => number>('string-width', (s) => [...s.replace(SGR, '')].length);
const truncate = lazy<(s: string, columns: number, opts: { position: 'end' }) => string>('cli-truncate', (s, columns) => {
  const chars = [...s.replace(SGR, '')];
  return chars.length <= columns ? s : `${chars.slice(0, Math.max(0, columns - 1)).join('')}…`;
});
/** Columns a cell takes on a terminal: colour codes none, wide characters two. */
function stringWidth(cell: string): number {
  const plain = cell.replace(SGR, '');
  // ASCII, and what LocalPort itself prints (→ in targets, … where cut): one column each, no library needed.
  if (/^[\x20-\x7e\u2026\u2190-\u21ff]*$/.test(plain)) return plain.length;
  return wide()(cell);
}
const cliTruncate = (cell: string, columns: number, opts: { position: 'end' }) => truncate()(cell, columns, opts);
import { definePlugin, printable, showListen, type DaemonView, type ServiceState, type ServiceStatus, type View } from '../../core/index.js';

const PLUGIN_NAME = 'localport:format-table';

const COLORS: Record<ServiceState, number> = { ready: 32, idle: 36, starting: 33, restarting: 33, stopping: 33, failed: 31, stopped: 90, unresolved: 35 };

/** 512B, 1.2k, 3.4M, 5.6G: the size of a byte count, short. */
export function bytes(n: number): string {
  if (n < 1000) return `${n}B`;
  const units = ['k', 'M', 'G', 'T'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** Where a service listens (a status from an older LocalPort has no `listen`). */
export const listenCell = (s: ServiceStatus) => showListen(Array.isArray(s.listen) && s.listen.length ? s.listen : [`${s.localAddress}:${s.localPort}`], s.localPort ?? null);

/** Successful restarts, and while it retries: the attempt, when the next one is due, the failed ones. */
function restartsCell(s: ServiceStatus): string {
  const extra = [
    s.state === 'restarting' && s.attempt ? `attempt ${s.attempt}` : '',
    s.nextRetryAt ? `next in ${uptime(Math.max(0, Date.parse(s.nextRetryAt) - Date.now()) + 999)}` : '',
    s.failedAttempts ? `${s.failedAttempts} failed` : '',
  ].filter(Boolean);
  return `${s.restarts}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/** The last error (or an unhealthy check's message), with how long ago it was. */
function lastErrorCell(s: ServiceStatus): string {
  const unhealthy = s.state === 'ready' && s.health?.state === 'unhealthy';
  // The row names the service: "service db: " before its own error would only push the cause off-screen.
  const full = (unhealthy ? s.health!.message : s.lastError) ?? '';
  const own = `service ${s.name}: `;
  const text = full.startsWith(own) ? full.slice(own.length) : full;
  const at = unhealthy ? s.health!.lastCheck : s.lastErrorAt;
  return text && at ? `${text} (${uptime(Date.now() - Date.parse(at))} ago)` : text;
}

/** Connections now/in all (held and cut ones named), and bytes in/out, through LocalPort's listener. */
function trafficCells(s: ServiceStatus): [string, string] {
  const t = s.traffic;
  if (!t) return ['-', '-'];
  const extra = [t.held ? `${t.held} held` : '', t.cut ? `${t.cut} cut` : '', t.timedOut ? `${t.timedOut} timed out` : ''].filter(Boolean);
  return [`${t.active}/${t.total}${extra.length ? ` (${extra.join(', ')})` : ''}`, `${bytes(t.bytesIn)}/${bytes(t.bytesOut)}`];
}

/** Columns apart: two spaces. */
const GAP = 2;

function table(rows: string[][], widths: number[] = naturalWidths(rows)): string {
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(Math.max(0, widths[i] - stringWidth(cell))))).join(' '.repeat(GAP)).trimEnd()).join('\n');
}

/** Each column's width as the terminal shows it: colour codes take no columns, wide characters two. */
const naturalWidths = (rows: string[][]) => rows[0].map((_, i) => Math.max(...rows.map((r) => stringWidth(r[i] ?? ''))));

/**
 * How the status table fits `width` columns. Cells are cut with an ellipsis, never wrapped. First the
 * columns that can give room shrink to a comfortable width, leaving out the least useful columns one by
 * one until the table fits; if it still does not, they shrink further, to their minimum. `undefined`
 * width (--wide, or not a terminal): everything, uncut.
 */
export interface Fit {
  /**
   * Column index → the width it may shrink to at each stage (comfortable, tight, tightest); they give room
   * in this order. Within a stage, columns are left out (see `drop`) before the next, tighter stage.
   */
  shrink: [number, number, number, number][];
  /** Columns left out, in this order, when shrinking is not enough. */
  drop: number[];
  /**
   * Column index → the end of its cells that a cut keeps whole (the target's `:5432`): the text before
   * it is cut instead (`very-long-h…:5432`), when the column leaves room for more than the end itself.
   */
  keepEnd?: Record<number, RegExp>;
}

/** A cell cut to `columns` with an ellipsis at its end, or before the part of it `keep` matches. */
function cut(cell: string, columns: number, keep: RegExp | undefined): string {
  const end = keep?.exec(cell)?.[0];
  if (end && end.length < cell.length && stringWidth(end) + 2 <= columns) {
    return cliTruncate(cell.slice(0, -end.length), columns - stringWidth(end), { position: 'end' }) + end;
  }
  return cliTruncate(cell, columns, { position: 'end' });
}

export function fitTable(rows: string[][], width: number | undefined, fit: Fit): string {
  if (width === undefined || width <= 0) return table(rows);
  const stages = [1, 2, 3] as const;
  for (const stage of stages) {
    for (let k = 0; k <= fit.drop.length; k++) {
      const gone = fit.drop.slice(0, k);
      const keep = rows[0].map((_, i) => i).filter((i) => !gone.includes(i));
      const cells = rows.map((r) => keep.map((i) => r[i]));
      const widths = naturalWidths(cells);
      let total = widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1);
      for (const [col, ...floors] of fit.shrink) {
        const at = keep.indexOf(col);
        if (at < 0 || total <= width) continue;
        const cut = Math.min(Math.max(0, widths[at] - floors[stage - 1]), total - width);
        widths[at] -= cut;
        total -= cut;
      }
      // The last stage takes what it gets: every droppable column gone, every column at its minimum.
      if (total <= width || (stage === 3 && k === fit.drop.length)) {
        return table(
          cells.map((r) => r.map((cell, i) => (stringWidth(cell) > widths[i] ? cut(cell, widths[i], fit.keepEnd?.[keep[i]!]) : cell))),
          widths,
        );
      }
    }
  }
  return table(rows);
}

/** 5s, 3m12s, 2h05m, 3d04h */
export function uptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** Column indexes of the status table, for its Fit. */
const COL = { service: 0, tech: 1, state: 2, health: 3, pid: 4, via: 5, local: 6, target: 7, uptime: 8, restarts: 9, conns: 10, io: 11, error: 12 } as const;

/**
 * The target gives room first (it is the longest and the least read), then the error, health, the
 * service's name and last the address: the one cell a user copies (`localhost:18443` is 15 columns).
 */
const STATUS_FIT: Fit = {
  shrink: [
    [COL.target, 32, 12, 12],
    [COL.error, 32, 16, 16],
    [COL.health, 24, 12, 12],
    [COL.service, 20, 20, 10],
    [COL.local, 24, 24, 15],
  ],
  drop: [COL.via, COL.pid, COL.uptime, COL.tech, COL.restarts, COL.io, COL.conns],
  // A target or address without its port says little: the host is cut, the port stays.
  keepEnd: { [COL.target]: /:\d+$/, [COL.local]: /:\d+$/ },
};

/** With shared connections, VIA says which services the legend's connections carry: it stays longer. */
const SHARED_FIT: Fit = { ...STATUS_FIT, drop: [COL.pid, COL.uptime, COL.tech, COL.via, COL.restarts, COL.io, COL.conns] };

/** `width`: the terminal's columns (the table is fitted to it); undefined shows every column uncut (`--wide`, a pipe). */
export function renderStatus(services: ServiceStatus[], color: boolean, width?: number): string {
  if (services.length === 0) return 'No services.';
  const paint = (state: ServiceState) => (color ? `\x1b[${COLORS[state]}m${state}\x1b[0m` : state);
  const head = ['SERVICE', 'TECH', 'STATE', 'HEALTH', 'PID', 'VIA', 'LOCAL', 'TARGET', 'UPTIME', 'RESTARTS', 'CONNS', 'IN/OUT', 'LAST ERROR'];
  const health = (s: ServiceStatus) => {
    const h = s.health;
    if (!h || s.state !== 'ready') return '-';
    const checked = h.lastCheck ? `, checked ${uptime(Date.now() - Date.parse(h.lastCheck))} ago` : '';
    if (h.state === 'unhealthy') return `${h.type}: unhealthy (${h.kind}${h.code ? ` ${h.code}` : ''}, ${h.consecutiveFailures}× failed${checked})`;
    return `${h.type}: ${h.state}${checked ? ` (${checked.slice(2)})` : ''}`;
  };
  // Cells quote tunnel output and peers' answers: printable before painting, which adds the only escapes.
  const rows = services.map((s) => [
    s.name,
    s.technology,
    paint(s.state),
    health(s),
    s.pid == null ? '-' : String(s.pid),
    s.connection ? s.connection.id : '-',
    listenCell(s),
    s.target,
    s.state === 'ready' && s.since ? uptime(Date.now() - Date.parse(s.since)) : '-',
    restartsCell(s),
    ...trafficCells(s),
    lastErrorCell(s),
  ].map((cell, i) => (i === COL.state ? cell : printable(cell))));
  const fit = services.some((s) => s.connection) ? SHARED_FIT : STATUS_FIT;
  return fitTable([head, ...rows], width, fit) + connectionsLegend(services, width);
}

/** Under the table, each shared connection the services ride on (VIA): where it goes, its process and its story. */
function connectionsLegend(services: ServiceStatus[], width?: number): string {
  const seen = new Map<string, NonNullable<ServiceStatus['connection']>>();
  for (const s of services) if (s.connection && !seen.has(s.connection.id)) seen.set(s.connection.id, s.connection);
  if (seen.size === 0) return '';
  const lines = [...seen.values()].map((c) => {
    const up = c.pid && c.since ? `pid ${c.pid}, up ${uptime(Date.now() - Date.parse(c.since))}` : 'not connected';
    const line = printable(`${c.id}: ${c.label} — ${up}, ${c.restarts} restart${c.restarts === 1 ? '' : 's'}, ${c.services} service${c.services === 1 ? '' : 's'}`);
    return width && stringWidth(line) > width ? cliTruncate(line, width, { position: 'end' }) : line;
  });
  return `\n\nshared connections:\n${lines.join('\n')}`;
}

function renderError(view: Extract<View, { kind: 'error' }>, color = false): string {
  const lines = view.message.split('\n');
  const head = lines.length > 1 ? `error: ${lines.length} problems\n${lines.map((l) => `  ${l}`).join('\n')}` : `error: ${view.message}`;
  // Messages quote what the user or a peer wrote (a YAML key, a tunnel's last line): a terminal would obey them.
  // The label is painted after that, in red, as failed states are: the only escape in the text.
  const text = printable(`${head}${view.hint ? `\nhint: ${view.hint}` : ''}`).replace(/^error:/, color ? `\x1b[${COLORS.failed}merror:\x1b[0m` : 'error:');
  if (!view.stack) return text;
  // A bug: the stack, and who can fix it. A plugin's is said in one line first (which plugin, which
  // hook), then the stack of what it threw; LocalPort's own is the stack as Node prints it.
  if (view.reportTo && view.reportTo !== 'localport') {
    const { plugin } = view.reportTo;
    return `${text}\n${printable(view.stack)}\n\nThis is a bug in the plugin ${plugin}, not in your config. Please report it to the plugin's author (${plugin}), with the output above.`;
  }
  return `${printable(view.stack)}\n\nThis is a bug in LocalPort. Please report it, with the output above.`;
}

function renderDaemon(view: DaemonView): string {
  switch (view.action) {
    case 'start':
      return view.started ? `LocalPort daemon started (pid ${view.pid}) for ${view.config}` : `LocalPort daemon is already running (pid ${view.pid}) for ${view.config}`;
    case 'stop':
      return view.stopped ? `LocalPort daemon (pid ${view.pid}) stopped in ${view.ms} ms` : `No LocalPort daemon is running for ${view.config}`;
    case 'restart':
      return `LocalPort daemon restarted (pid ${view.pid})${view.restarted.length ? `; starting ${view.restarted.join(', ')}` : ''}`;
    case 'status': {
      if (!view.running) return `No LocalPort daemon is running for ${view.config}`;
      const counts = Object.entries(view.services ?? {}).map(([k, v]) => `${v} ${k}`).join(', ');
      return printable(`LocalPort daemon running (pid ${view.pid})\n  config: ${view.config}\n  socket: ${view.socket}\n  services: ${counts}${view.reloadError ? `\n  config reload failed: ${view.reloadError}` : ''}`);
    }
  }
}

/** Human output: aligned tables, coloured states when the terminal takes colour. */
export const tableFormatterPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerFormatter({
        type: 'table',
        render(view: View, { color, width }) {
          switch (view.kind) {
            case 'status': {
              const table = renderStatus(view.services, color, width);
              if (view.runner === undefined) return table;
              const head = view.runner
                ? `localport ${view.runner.mode} (pid ${view.runner.pid}) is running ${view.config ?? ''}`.trimEnd()
                : `No LocalPort is running${view.config ? ` for ${view.config}` : ''}; every service is stopped.`;
              const reload = view.reloadError ? `\nconfig reload failed; still running the previous config:\n  ${printable(view.reloadError).split('\n').join('\n  ')}` : '';
              return `${head}${reload}\n${table}`;
            }
            case 'config':
              return `# ${view.file ?? '(no file)'} (resolved; secrets shown as ***)\n${yaml.dump(view.config, { lineWidth: 120, noRefs: true }).trimEnd()}`;
            case 'validate': {
              const enabled = view.services.filter((s) => s.enabled).length;
              const list = view.services.map((s) => printable(`  ${s.name} (${s.technology}${s.enabled ? '' : ', disabled'})`)).join('\n');
              return `${view.file ?? 'config'}: valid, ${view.services.length} service${view.services.length === 1 ? '' : 's'} (${enabled} enabled)${list ? `\n${list}` : ''}`;
            }
            case 'error':
              return renderError(view, color);
            case 'export':
              return `# exported by localport config export from ${view.file}; values from the environment are written as \${VAR}, as in the file\n${yaml.dump(view.config, { lineWidth: 120, noRefs: true }).trimEnd()}`;
            case 'logs':
              // Lines are made printable here: a log from an older LocalPort, or a message JSON.parse
              // has unescaped, may hold control characters.
              return view.entries.map((e) => printable(e.time ? `${e.time} ${e.level ?? 'info'} ${e.message}` : e.message)).join('\n');
            case 'logFiles':
              return view.files.length ? view.files.map((l) => `${l.name}\t${l.bytes} bytes\t${l.modified}\t${l.file}`).join('\n') : 'No service logs yet.';
            case 'stop':
              if (!view.running) return `No LocalPort daemon is running for ${view.config}; nothing to stop.`;
              return `Stopped ${view.stopped.length ? view.stopped.join(', ') : 'nothing (no service was running)'}.`;
            case 'reload':
              if (view.superseded) return 'reloaded: a newer reload finished first and applied the current config';
              return `reloaded: added ${view.added.join(', ') || '-'}; removed ${view.removed.join(', ') || '-'}; changed ${view.changed.join(', ') || '-'}; unchanged ${view.unchanged.length}`;
            case 'daemon':
              return renderDaemon(view);
            case 'ui':
              return view.opened
                ? `Opened ${view.url} in the browser (listening on ${view.listen.join(' and ')}).`
                : `${view.url}\nListening on ${view.listen.join(' and ')}; open the URL above (it holds this daemon's token).`;
            case 'doctor': {
              const mark = (c: { ok: boolean; required: boolean }) => (c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn');
              const lines = view.checks.map((c) => `${mark(c)}  ${c.technology}: ${c.name} — ${c.detail}`);
              const bad = view.checks.filter((c) => !c.ok && c.required).length;
              return `${lines.join('\n') || 'Nothing to check.'}\n${bad ? `${bad} required check${bad === 1 ? '' : 's'} failed` : 'All required checks passed'}`;
            }
          }
        },
      });
    },
  });
