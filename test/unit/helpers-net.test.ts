import { describe, expect, it } from '@jest/globals';
import { freePort } from '../helpers/net.js';

describe('freePort (test helper)', () => {
  it('never hands the same port twice, even to many concurrent callers, and stays below the ephemeral range', async () => {
    const ports = await Promise.all(Array.from({ length: 2000 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports.every((p) => p >= 10_000 && p < 32_768)).toBe(true);
  });
});
