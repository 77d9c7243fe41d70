import type { RestartPolicy } from '../types.js';

/**
 * Seconds to wait before restart `attempt` (1-based): initialDelay × multiplier^(attempt−1), capped at
 * maxDelay, then spread by ± jitter so that many tunnels to one host do not reconnect in lock-step.
 */
export function backoffDelay(policy: RestartPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.maxDelay, policy.initialDelay * policy.backoffMultiplier ** exponent);
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(policy.maxDelay, base + spread));
}

/** Whether another restart is allowed after `attempt` restarts (maxAttempts 0 = unlimited). */
export function mayRestart(policy: RestartPolicy, attempt: number): boolean {
  return policy.enabled && (policy.maxAttempts === 0 || attempt <= policy.maxAttempts);
}
