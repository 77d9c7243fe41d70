/**
 * Limits on numbers and names, in a module of their own so the CLI can check its options against them
 * without loading the schema library.
 */

/**
 * The longest duration LocalPort accepts, in seconds: Node's timers hold at most 2^31−1 ms (about
 * 24.8 days) and silently turn anything longer into 1 ms — a health check 1000 times a second, a
 * restart with no delay. Every duration in a config or on the command line is checked against it.
 */
export const MAX_SECONDS = 2147483.647;

/** The largest count (attempts, thresholds, lines): far beyond any real use, small enough to stay exact. */
export const MAX_COUNT = 1_000_000;

/**
 * The longest service name: a DNS label's limit (63), like Kubernetes names. A name becomes a log
 * file name, a key in state files and a column in `status`; 63 characters fit all three.
 */
export const MAX_NAME_LENGTH = 63;

/**
 * The shortest health-check interval: 20 checks a second is already more than any server deserves;
 * anything shorter (0.0001 s) would be a check per timer tick, a denial of service through the tunnel.
 */
export const MIN_CHECK_INTERVAL = 0.05;

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/**
 * A duration as people write it — `500ms`, `30s`, `2m`, `1h` — or a plain number of seconds, in
 * seconds. Undefined when the text is neither (a negative number is left to the caller's range check).
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  return m ? Number(m[1]) * (m[2] ? UNITS[m[2]] : 1) : undefined;
}
