import { spawn } from 'node:child_process';
import { request } from './control/client.js';
import { ensureDaemon, stopDaemon } from './control/daemons.js';
import { LocalPortError } from '../core/errors.js';
import type { UiInfo } from './control/protocol.js';
import type { View } from '../core/types.js';

export type UiView = Extract<View, { kind: 'ui' }>;

/**
 * `localport ui`: makes sure the daemon runs and serves its HTTP server (`port` fixes the port if the
 * server is not running yet), then opens the page in a browser unless `open` is false.
 */
export async function ensureUi(configFile: string, opts: { port?: number; open: boolean; logLevel: string; stderr: NodeJS.WritableStream }): Promise<UiView> {
  const daemon = await ensureDaemon(configFile, { logLevel: opts.logLevel });
  if (daemon.started) opts.stderr.write(`started the LocalPort daemon (pid ${daemon.pid}) for ${configFile}\n`);
  const info = await serveUi(configFile, daemon, opts.port, '--port', opts.stderr, opts.open);
  // The opener gets a one-time URL: its command line is readable by every local user, the token must not be.
  const opened = opts.open && !!info.openUrl && (await openBrowser(info.openUrl));
  return { kind: 'ui', config: configFile, url: info.url, listen: info.listen, opened };
}

/** Asks the daemon on `socket` for its HTTP server (started on `port` if it is not running yet). */
export function requestUi(socket: string, port?: number, open = false): Promise<UiInfo> {
  return request<UiInfo>(socket, 'ui', { ...(port === undefined ? {} : { port }), ...(open ? { open } : {}) });
}

/**
 * `requestUi` for a command whose option `flag` (`--port`, `--ui-port`) gave `port`. A port that is taken
 * leaves nothing half-done: a daemon this command started only to serve it is stopped again; a daemon
 * that ran before keeps running as it was. The error says which, and names the command's own option.
 */
export async function serveUi(configFile: string, daemon: { pid: number; socket: string; started: boolean }, port: number | undefined, flag: string, stderr: NodeJS.WritableStream, open = false): Promise<UiInfo> {
  try {
    return await requestUi(daemon.socket, port, open);
  } catch (error) {
    if (!(error instanceof LocalPortError) || error.code !== 'UI_PORT_IN_USE') throw error;
    let state: string;
    if (daemon.started) {
      const stopped = await stopDaemon(configFile).then(
        () => true,
        () => false,
      );
      state = stopped ? `the daemon this command started (pid ${daemon.pid}) was stopped again` : `the daemon this command started (pid ${daemon.pid}) could not be stopped: 'localport daemon stop' stops it`;
      if (stopped) stderr.write(`stopped the LocalPort daemon (pid ${daemon.pid}) again: its HTTP server could not listen\n`);
    } else state = `the daemon (pid ${daemon.pid}) keeps running as before, without its HTTP server`;
    const hint =
      port === undefined
        ? `Pick another port with ui.port in ${configFile}, or remove ui.port to let the system pick one.`
        : `Pick another port with ${flag}, or leave ${flag} out to let the system pick one.`;
    throw new LocalPortError('UI_PORT_IN_USE', `${error.message}; ${state}`, { hint });
  }
}

/** How long an opener may run before it counts as having handed the URL over (xdg-open may wait for the browser). */
const OPENER_GRACE_MS = 2000;

/**
 * The platform's opener, with the URL as an argument (never through a shell). On Linux without a
 * display there is no browser to show it: false, and the caller prints the URL.
 */
export function openerFor(url: string, platform = process.platform, env = process.env): [string, string[]] | undefined {
  if (platform === 'darwin') return ['open', [url]];
  if (platform === 'win32') return ['rundll32', ['url.dll,FileProtocolHandler', url]];
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  return ['xdg-open', [url]];
}

/** Whether a browser was asked to open `url`: the opener started and did not fail within OPENER_GRACE_MS. */
export function openBrowser(url: string): Promise<boolean> {
  const opener = openerFor(url);
  if (!opener) return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn(opener[0], opener[1], { detached: true, stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.unref();
      resolve(true);
    }, OPENER_GRACE_MS);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}
