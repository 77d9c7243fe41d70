import type { Endpoint, ExitInfo, ForwardSpec } from '../types.js';
import type { Forward } from './Forward.js';
import { canConnect, waitForPort } from './ports.js';

/** How long a forward may take to become ready before the attempt counts as failed. */
export const START_TIMEOUT_MS = 30_000;

/** How a wait for readiness ended: only `ready` leaves the forward running for the caller. */
export type Readiness = { ready: true } | { exited: ExitInfo } | { timeout: true } | { aborted: true };

export interface ReadinessOptions {
  /** The forward's rule (ForwardSpec.ready). */
  rule: ForwardSpec['ready'];
  /** Where the forward listens (the internal endpoint behind the front, or the user's address and port). */
  endpoint: Endpoint;
  /** A stop of the service: the wait ends as `aborted`. */
  signal: AbortSignal;
  timeoutMs?: number;
}

/**
 * Waits until `forward` is ready by its rule, it ends, the start timeout passes or `signal` aborts,
 * whichever comes first. It decides nothing else: the caller stops a forward that was not ready.
 */
export async function whenReady(forward: Forward, opts: ReadinessOptions): Promise<Readiness> {
  const timeoutMs = opts.timeoutMs ?? START_TIMEOUT_MS;
  // Ends the probing when the race is decided: a forward that exited is not polled for until its
  // port happens to accept again (the next attempt's).
  const settled = new AbortController();
  const signal = AbortSignal.any([opts.signal, settled.signal]);
  let timer: NodeJS.Timeout | undefined;
  const unsubscribe: (() => void)[] = [];
  const ready = probe(forward, opts, signal, unsubscribe, timeoutMs).then(() => ({ ready: true as const }));
  const exited = new Promise<{ exited: ExitInfo }>((resolve) => unsubscribe.push(forward.onExit((info) => resolve({ exited: info }))));
  const timeout = new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), timeoutMs)));
  const aborted = new Promise<{ aborted: true }>((resolve) => {
    if (opts.signal.aborted) resolve({ aborted: true });
    else opts.signal.addEventListener('abort', () => resolve({ aborted: true }), { once: true });
  });
  try {
    return await Promise.race([ready, exited, timeout, aborted]);
  } finally {
    clearTimeout(timer);
    settled.abort();
    unsubscribe.forEach((u) => u());
  }
}

/** Resolves once the forward is ready; never, if it does not become so (the race decides then). */
async function probe(forward: Forward, opts: ReadinessOptions, signal: AbortSignal, unsubscribe: (() => void)[], timeoutMs: number): Promise<void> {
  const { endpoint, rule } = opts;
  const never = new Promise<void>(() => {});
  if ('output' in rule) {
    const pattern = rule.output;
    await new Promise<void>((resolve) => {
      // Each new line is tested once, as it arrives (the tail holds the lines seen before).
      let seen = false;
      const check = (line: string) => {
        if (seen || !pattern.test(line)) return;
        seen = true;
        stop();
        resolve();
      };
      const stop = forward.onLine(check);
      unsubscribe.push(stop);
      forward.tail.forEach(check);
    });
    // The process says it listens; one connect proves it (and catches a forward bound elsewhere).
    if (signal.aborted) return never;
    if (await canConnect(endpoint, 1000)) return;
    if (await waitForPort(endpoint, 2000, signal)) return;
    return never; // never ready; the start timeout or the process exit decides
  }
  while (!signal.aborted) {
    if (await waitForPort(endpoint, timeoutMs, signal)) return;
  }
  return never;
}
