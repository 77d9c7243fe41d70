import { describe, expect, it } from '@jest/globals';
import { renderStatus } from '../../../plugins/format-table/index.js';
import type { ServiceStatus } from '../../../core/types.js';

/** A ready ssh service's status; each test changes what it is about. */
const status = (over: Partial<ServiceStatus> = {}): ServiceStatus => ({
  name: 'db',
  technology: 'ssh',
  state: 'ready',
  pid: 4242,
  localAddress: '127.0.0.1',
  localPort: 15432,
  listen: ['127.0.0.1:15432'],
  remotePort: 5432,
  relay: true,
  start: 'eager',
  traffic: null,
  target: 'deploy@bastion.example.com:22 → db.internal:5432',
  tags: [],
  restarts: 0,
  since: null,
  lastError: null,
  health: null,
  ...over,
});

describe('renderStatus', () => {
  it('shows control characters in a cell (a last error quoting a peer) as text; its own colour codes are the only escapes', () => {
    const service = status({ state: 'failed', pid: null, target: 'bastion\x1b[2J :5432', lastError: 'ssh exited: \x1b]0;PWNED\x07café 日本' });
    const out = renderStatus([service], true);
    expect(out).toContain('ssh exited: \\u001b]0;PWNED\\u0007café 日本');
    expect(out).toContain('bastion\\u001b[2J :5432');
    expect(out.replace('\x1b[31mfailed\x1b[0m', 'failed')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it('keeps VIA at 120 columns when services ride on a shared connection, and names that connection under the table; without one, VIA goes first', () => {
    const base = (name: string, connection: ServiceStatus['connection']): ServiceStatus =>
      status({
        name,
        traffic: { active: 0, total: 3, held: 0, heldTotal: 0, timedOut: 0, cut: 0, replayed: 0, bytesIn: 10, bytesOut: 20, maxHoldMs: 0 },
        since: new Date().toISOString(),
        connection,
      });
    const conn = { id: 'ssh#1', label: 'deploy@bastion.example.com:22', pid: 4242, since: new Date().toISOString(), restarts: 0, services: 2 };
    const shared = renderStatus([base('db', conn), base('cache', conn), base('solo', null)], false, 120);
    const [head, db, , solo] = shared.split('\n');
    expect(head).toMatch(/\bVIA\b/);
    expect(db).toMatch(/\sssh#1\s/);
    expect(solo).toMatch(/^solo\s.*\s-\s/);
    expect(shared).toMatch(/\nssh#1: deploy@bastion\.example\.com:22 — pid 4242, up 0s, 0 restarts, 2 services$/);
    for (const line of shared.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    // LAST ERROR leaves out the "service NAME: " the row already says.
    const failed = renderStatus([{ ...base('db', null), state: 'failed', lastError: 'service db: authentication refused by deploy@bastion' }], false);
    expect(failed).toMatch(/ authentication refused by deploy@bastion$/m);
    expect(failed).not.toContain('service db:');
    const own = renderStatus([base('db', null)], false, 120);
    expect(own.split('\n')[0]).not.toMatch(/\bVIA\b/);
    expect(own).not.toContain('shared connections');
  });
});
