import { SHUTDOWN_PHASES } from '../core/supervisor/shutdown.js';
import type { ShutdownPhaseName } from '../core/hooks.js';
import { printable } from '../core/printable.js';
import type { Redactor } from '../core/redact.js';
import type { ServiceStatus } from '../core/types.js';
import { subscribe } from './control/client.js';
import type { LocalPortEvent } from './events.js';
import { progressList } from './progress.js';

/**
 * What a stop tree counts down: the services that run something a stop ends. A stopped one does not,
 * nor an unresolved one (a variable it needs is unset: it never ran, and no stop event will come for it).
 */
export const runningNow = (services: readonly Pick<ServiceStatus, 'name' | 'state'>[]): string[] =>
  services.filter((s) => s.state !== 'stopped' && s.state !== 'unresolved').map((s) => s.name);

/**
 * `stop` and `daemon stop` on a terminal: the same tree `run` draws at its teardown, from the daemon's
 * event stream — the shutdown phases one by one (`daemon stop`), or the services as they stop (`stop`).
 * The stream is subscribed to before anything is asked, so no event is missed; `act` then asks.
 */
export async function withStopTree<T>(opts: {
  socket: string;
  /** `daemon`: the shutdown phases, with the services stopping under cancel-tasks; `services`: one node each. */
  kind: 'daemon' | 'services';
  /** The services that are running now (what the tree counts down). */
  running: string[];
  title: string;
  redactor: Redactor;
  act: () => Promise<T>;
}): Promise<T> {
  const shown = (text: string) => printable(opts.redactor.text(text));
  const stopped = new Set<string>();
  const stopWaiters = new Map<string, () => void>();
  const phaseAt = new Map<ShutdownPhaseName, number>();
  const phaseWaiters = new Map<ShutdownPhaseName, () => void>();
  // When the shutdown was over: the stream's end, or `act`'s return if that came first (it measured
  // the whole: `stopped in N ms`), so no phase ends after the whole did.
  let over: number | undefined;
  let ended!: () => void;
  const streamEnded = new Promise<void>((resolve) => (ended = resolve)).then(() => void (over ??= Date.now()));
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const abort = new AbortController();
  const stream = subscribe(
    opts.socket,
    opts.kind === 'services' ? opts.running : [],
    (e) => {
      const event = e as LocalPortEvent;
      if (event.type === 'state' && event.to === 'stopped' && event.service) {
        stopped.add(event.service);
        stopWaiters.get(event.service)?.();
      }
      if (event.type === 'shutdown') {
        phaseAt.set(event.phase, Date.now());
        phaseWaiters.get(event.phase)?.();
      }
    },
    abort.signal,
    10_000,
    () => subscribed(),
  ).then(
    () => ended(),
    () => ended(),
  );
  // A daemon that cannot stream (an older one) still stops: the tree is only left out.
  const usable = await Promise.race([ready.then(() => true), stream.then(() => false)]);
  if (!usable) return opts.act();
  const doneWithin = (p: Promise<void>) => Promise.race([p, streamEnded]);
  const phases = SHUTDOWN_PHASES.map((p) => p.phase);
  const started = (phase: ShutdownPhaseName) => doneWithin(phaseAt.has(phase) ? Promise.resolve() : new Promise<void>((resolve) => phaseWaiters.set(phase, resolve)));
  const stoppedOne = (name: string) => doneWithin(stopped.has(name) ? Promise.resolve() : new Promise<void>((resolve) => stopWaiters.set(name, resolve)));
  const count = () => `${opts.running.filter((n) => stopped.has(n)).length}/${opts.running.length} stopped`;

  type Task = { title: string; skip(m?: string): void };
  const children =
    opts.kind === 'daemon'
      ? phases.map((phase, i) => ({
          title: phase,
          task: async (_: unknown, t: Task) => {
            await started(phase);
            const timer = phase === 'cancel-tasks' ? setInterval(() => (t.title = shown(`${phase}: ${count()}`)), 50) : undefined;
            // A phase is over when the next one begins, or when the stream ends (the daemon is gone).
            const next = phases[i + 1];
            await (next ? started(next) : streamEnded);
            clearInterval(timer);
            const from = phaseAt.get(phase);
            const until = (next ? phaseAt.get(next) : undefined) ?? over ?? Date.now();
            if (from === undefined) return t.skip(`${phase}: not reported`);
            t.title = shown(`${phase}${phase === 'cancel-tasks' ? `: ${count()}` : ''} — done in ${Math.max(0, until - from)} ms`);
          },
        }))
      : opts.running.map((name) => ({
          title: shown(`${name}: stopping`),
          task: async (_: unknown, t: Task) => {
            await stoppedOne(name);
            t.title = shown(stopped.has(name) ? `${name}: stopped` : `${name}: not reported stopped`);
          },
        }));
  const list = await progressList(
    [{ title: shown(opts.title), task: (_: unknown, task: { newListr(tasks: unknown[], options?: object): unknown }) => task.newListr(children, { concurrent: opts.kind === 'services', rendererOptions: { collapseSubtasks: false } }) }],
    true,
  );
  const drawn = list.run().catch(() => {});
  try {
    const result = await opts.act();
    over ??= Date.now();
    // `stop` leaves the daemon (and the stream) running: the tree is done once every service said so.
    let timer: NodeJS.Timeout | undefined;
    const atMost2s = new Promise((r) => (timer = setTimeout(r, 2000)));
    if (opts.kind === 'services') await Promise.race([Promise.all(opts.running.map(stoppedOne)), atMost2s]);
    else await Promise.race([streamEnded, atMost2s]);
    clearTimeout(timer);
    return result;
  } finally {
    abort.abort();
    ended();
    await drawn;
  }
}
