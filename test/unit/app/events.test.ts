import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { describeEvent, EVENT_FIELDS, EVENT_SCHEMA_VERSION, eventProblems, tapEvents, toEvent, type EventSource, type LocalPortEvent } from '../../../app/events.js';
import { LocalPort } from '../../../core/LocalPort.js';
import { Redactor } from '../../../core/redact.js';
import type { ServiceDefinition } from '../../../core/types.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const service = { name: 'db', healthCheck: { type: 'postgres' } } as unknown as ServiceDefinition;
const at = new Date('2026-01-02T03:04:05.678Z');

/** One source of every kind, and the event each must give: the schema, pinned. */
const FIXTURE: [EventSource, LocalPortEvent][] = [
  [
    { kind: 'state', change: { service, from: 'ready', to: 'restarting', error: 'ssh exited 255' } },
    { v: 1, time: at.toISOString(), type: 'state', service: 'db', from: 'ready', to: 'restarting', error: 'ssh exited 255' },
  ],
  [
    { kind: 'health', change: { service, from: 'healthy', healthy: false, result: { ok: false, kind: 'auth_rejected', code: '28P01', message: 'password authentication failed' } } },
    { v: 1, time: at.toISOString(), type: 'health', service: 'db', from: 'healthy', to: 'unhealthy', check: 'postgres', kind: 'auth_rejected', code: '28P01', message: 'password authentication failed' },
  ],
  [
    { kind: 'health', change: { service, from: 'unknown', healthy: true, result: { ok: true, message: 'accepts connections' } } },
    { v: 1, time: at.toISOString(), type: 'health', service: 'db', from: 'unknown', to: 'healthy', check: 'postgres', message: 'accepts connections' },
  ],
  [
    { kind: 'restart', service, restart: { attempt: 3, delay: 1.23456, reason: 'ssh exited 255' } },
    { v: 1, time: at.toISOString(), type: 'restart', service: 'db', attempt: 3, delay: 1.235, reason: 'ssh exited 255' },
  ],
  [
    { kind: 'reload', result: { ok: true, added: ['a'], removed: [], changed: ['db'] } },
    { v: 1, time: at.toISOString(), type: 'reload', applied: true, added: ['a'], removed: [], changed: ['db'] },
  ],
  [
    { kind: 'reload', result: { ok: false, error: 'services[0].local_port: expected a number', added: [], removed: [], changed: [] } },
    { v: 1, time: at.toISOString(), type: 'reload', applied: false, error: 'services[0].local_port: expected a number' },
  ],
  [{ kind: 'shutdown', phase: { phase: 'cancel-tasks', timeout: 0.25 } }, { v: 1, time: at.toISOString(), type: 'shutdown', phase: 'cancel-tasks', step: 3, timeout: 0.25 }],
  [{ kind: 'ready', services: ['db', 'web'] }, { v: 1, time: at.toISOString(), type: 'ready', services: ['db', 'web'] }],
  [{ kind: 'dropped', count: 7 }, { v: 1, time: at.toISOString(), type: 'dropped', count: 7 }],
];

/** The rows between the README's event markers: type, fields. */
function readmeTable(): { type: string; fields: string }[] {
  const block = README.slice(README.indexOf('<!-- events:start -->'), README.indexOf('<!-- events:end -->'));
  return block
    .split('\n')
    .filter((l) => /^\| `/.test(l))
    .map((l) => {
      const [type, fields] = l.slice(1, -1).split('|').map((c) => c.trim());
      return { type: type.replace(/`/g, ''), fields };
    });
}

describe('events', () => {
  it('maps every hook payload to its event, field for field (the schema, pinned), and each passes the schema check', () => {
    for (const [source, expected] of FIXTURE) {
      const event = toEvent(source, new Redactor(), at);
      expect(event).toEqual(expected);
      expect(eventProblems(event)).toEqual([]);
    }
    // Every type is in the fixture.
    expect(new Set(FIXTURE.map(([, e]) => e.type))).toEqual(new Set(Object.keys(EVENT_FIELDS)));
    expect(EVENT_SCHEMA_VERSION).toBe(1);
  });

  it('is the README table, row for row: every type with its fields, optional ones marked', () => {
    const fromCode = Object.entries(EVENT_FIELDS).map(([type, spec]) => ({
      type,
      fields: Object.entries(spec.fields)
        .map(([name, f]) => `\`${name}${f.optional ? '?' : ''}\``)
        .join(', '),
    }));
    expect(readmeTable()).toEqual(fromCode);
  });

  it('finds what is wrong with an event: a missing or extra field, a wrong type, an unknown value or version', () => {
    const ok = toEvent(FIXTURE[0][0], new Redactor(), at);
    expect(eventProblems({ ...ok, v: 2 })).toEqual(['v is 2, not 1']);
    expect(eventProblems({ ...ok, to: 'sleeping' })).toEqual(['state: to "sleeping" is not one of stopped, idle, starting, ready, restarting, failed, stopping']);
    expect(eventProblems({ ...ok, extra: 1 })).toEqual(['state: unknown field extra']);
    const { service: _, ...noService } = ok as { service: string };
    expect(eventProblems(noService)).toEqual(['state: service is missing']);
    expect(eventProblems({ ...ok, time: 'yesterday' })).toEqual(['time "yesterday" is not ISO 8601 UTC']);
    expect(eventProblems({ ...ok, type: 'nope' })).toEqual(['unknown type "nope"']);
  });

  it('redacts secrets and makes quoted tunnel output printable', () => {
    const redactor = new Redactor();
    redactor.add('hunter22');
    const e = toEvent({ kind: 'state', change: { service, from: 'ready', to: 'failed', error: 'auth for hunter22 failed\u001b]0;pwned\u0007' } }, redactor, at);
    expect(e).toMatchObject({ error: 'auth for *** failed\\u001b]0;pwned\\u0007' });
    expect(JSON.stringify(e)).not.toContain('hunter22');
    expect(describeEvent(e)).toBe('2026-01-02T03:04:05.678Z db: ready → failed (auth for *** failed\\u001b]0;pwned\\u0007)');
  });

  it("taps core's hooks: state, health, a restart only once no plugin vetoed it, shutdown phases", async () => {
    const hub = new LocalPort();
    const seen: LocalPortEvent[] = [];
    tapEvents(hub, (e) => seen.push(e));
    hub.hooks.stateChanged.call({ service, from: 'ready', to: 'restarting' });
    hub.hooks.healthChanged.call({ service, from: 'healthy', healthy: false, result: { ok: false, kind: 'timeout' } });
    await hub.hooks.beforeRestart.promise(service, { attempt: 1, delay: 0.5, reason: 'x' });
    hub.hooks.beforeRestart.tap('veto', () => false);
    expect(await hub.hooks.beforeRestart.promise(service, { attempt: 2, delay: 1, reason: 'y' })).toBe(false);
    await hub.hooks.shutdownPhase.promise({ phase: 'force-kill', timeout: 0.5 });
    expect(seen.map((e) => [e.type, 'attempt' in e ? e.attempt : undefined])).toEqual([
      ['state', undefined],
      ['health', undefined],
      ['restart', 1],
      ['shutdown', undefined],
    ]);
  });
});
