import { describe, expect, it } from '@jest/globals';
import { bindsOverlap, reachableAddress } from '../../core/address.js';

describe('bind addresses', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1', true],
    ['0.0.0.0', '127.0.0.1', true],
    ['127.0.0.2', '*', true],
    ['::', '127.0.0.1', true],
    ['[::]', '::1', true],
    ['0.0.0.0', '::1', false],
    ['127.0.0.1', '::1', false],
    ['127.0.0.1', '127.0.0.2', false],
  ])('%s and %s on one port collide: %s', (a, b, overlap) => {
    expect(bindsOverlap(a, b)).toBe(overlap);
    expect(bindsOverlap(b, a)).toBe(overlap);
  });

  it('reaches a wildcard on loopback, anything else where it is', () => {
    expect([reachableAddress('0.0.0.0'), reachableAddress('::'), reachableAddress('10.1.2.3')]).toEqual(['127.0.0.1', '::1', '10.1.2.3']);
  });
});
