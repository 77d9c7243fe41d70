import { describe, expect, it } from '@jest/globals';
import { renderStatus } from '../../../plugins/format-table/index.js';
import type { ServiceStatus } from '../../../core/types.js';

describe('renderStatus', () => {
  it('shows control characters in a cell (a last error quoting a peer) as text; its own colour codes are the only escapes', () => {
    const service: ServiceStatus = {
      name: 'db',
      technology: 'ssh',
      state: 'failed',
      pid: null,
      localAddress: '127.0.0.1',
      localPort: 15432,
      listen: ['127.0.0.1:15432'],
      remotePort: 5432,
      relay: true,
      start: 'eager',
      traffic: null,
      target: 'bastion\x1b[2J :5432',
      tags: [],
      restarts: 0,
      since: null,
      lastError: 'ssh exited: \x1b]0;PWNED\x07café 日本',
      health: null,
    };
    const out = renderStatus([service], true);
    expect(out).toContain('ssh exited: \\u001b]0;PWNED\\u0007café 日本');
    expect(out).toContain('bastion\\u001b[2J :5432');
    expect(out.replace('\x1b[31mfailed\x1b[0m', 'failed')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });
});
