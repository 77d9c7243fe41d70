import { describe, expect, it } from '@jest/globals';
import { isLocalAddress } from '../../../core/config/bind.js';

describe('isLocalAddress', () => {
  it.each(['127.0.0.1', '127.1.2.3', '0.0.0.0', '::', '::1', '[::1]', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '::ffff:127.0.0.1'])('%s is this machine', (a) => {
    expect(isLocalAddress(a)).toBe(true);
  });
  it.each(['192.0.2.200', '2001:db8::1', '::2', '0:0:0:0:0:0:0:2'])('%s is not', (a) => {
    expect(isLocalAddress(a)).toBe(false);
  });
});
