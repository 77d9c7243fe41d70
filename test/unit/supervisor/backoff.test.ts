import { describe, expect, it } from '@jest/globals';
import { backoffDelay, mayRestart } from '../../../core/supervisor/backoff.js';
import { DEFAULT_RESTART_POLICY } from '../../../core/config/validate.js';

const policy = { ...DEFAULT_RESTART_POLICY, initialDelay: 1, backoffMultiplier: 2, maxDelay: 10, jitter: 0 };

describe('backoff', () => {
  it('grows exponentially and stops at maxDelay', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(policy, a))).toEqual([1, 2, 4, 8, 10, 10]);
  });

  it('spreads each delay by at most ± jitter', () => {
    const p = { ...policy, jitter: 0.5 };
    expect(backoffDelay(p, 2, () => 0)).toBe(1);
    expect(backoffDelay(p, 2, () => 1)).toBe(3);
    expect(backoffDelay(p, 2, () => 0.5)).toBe(2);
    // Never beyond maxDelay, even with jitter.
    expect(backoffDelay(p, 10, () => 1)).toBe(10);
  });

  it('allows unlimited attempts with maxAttempts 0, and none when disabled', () => {
    expect(mayRestart({ ...policy, maxAttempts: 0 }, 1000)).toBe(true);
    expect(mayRestart({ ...policy, maxAttempts: 3 }, 3)).toBe(true);
    expect(mayRestart({ ...policy, maxAttempts: 3 }, 4)).toBe(false);
    expect(mayRestart({ ...policy, enabled: false }, 1)).toBe(false);
  });
});
