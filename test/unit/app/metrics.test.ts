import { describe, expect, it } from '@jest/globals';
import { createMetrics, type MetricsSnapshot } from '../../../app/metrics.js';
import type { ServiceStatus } from '../../../core/types.js';
import { parsePrometheus, sampleValue } from '../../helpers/prometheus.js';

// The metrics as a scrape sees them: read from the status at scrape time, valid exposition text
// (checked by a strict parser), series that go away with their service.

const status = (name: string, over: Partial<ServiceStatus> = {}): ServiceStatus => ({
  name,
  technology: 'ssh',
  state: 'ready',
  pid: 1,
  localAddress: '127.0.0.1',
  localPort: 5432,
  listen: ['127.0.0.1:5432'],
  remotePort: 5432,
  target: 'deploy@db "east"\\1:5432',
  tags: [],
  restarts: 2,
  relay: true,
  start: 'eager',
  traffic: { active: 1, total: 7, held: 0, heldTotal: 3, timedOut: 1, cut: 2, replayed: 1, bytesIn: 1234, bytesOut: 56789, maxHoldMs: 1500 },
  since: '2026-01-01T00:00:00.000Z',
  lastError: null,
  attempt: 0,
  failedAttempts: 4,
  nextRetryAt: null,
  health: { state: 'healthy', type: 'postgres', lastCheck: null, latencyMs: 12.5, consecutiveFailures: 0, message: null, kind: null, code: null, details: null },
  connection: { id: 'ssh#1', label: 'deploy@bastion:22', pid: 9, since: null, restarts: 3, services: 2 },
  ...over,
});

describe('createMetrics', () => {
  it('renders every service from the status at scrape time, as valid Prometheus text', async () => {
    let snap: MetricsSnapshot = { services: [status('db'), status('api', { state: 'restarting', traffic: null, health: null, attempt: 3, nextRetryAt: '2026-01-01T00:00:10.000Z' })], reloadError: null };
    const metrics = await createMetrics(() => snap);
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const f = parsePrometheus(await metrics.render());

    expect(sampleValue(f, 'localport_service_state', { service: 'db', state: 'ready' })).toBe(1);
    expect(sampleValue(f, 'localport_service_state', { service: 'db', state: 'failed' })).toBe(0);
    expect(f.get('localport_service_state')!.samples.filter((s) => s.labels.service === 'api' && s.value === 1)).toEqual([{ name: 'localport_service_state', labels: { service: 'api', state: 'restarting' }, value: 1 }]);
    expect(sampleValue(f, 'localport_service_health', { service: 'db', health: 'healthy' })).toBe(1);
    expect(sampleValue(f, 'localport_service_health', { service: 'api', health: 'unknown' })).toBe(1);
    expect(f.get('localport_service_restarts_total')!.type).toBe('counter');
    expect(sampleValue(f, 'localport_service_restarts_total', { service: 'db' })).toBe(2);
    expect(sampleValue(f, 'localport_service_failed_attempts_total', { service: 'db' })).toBe(4);
    expect(sampleValue(f, 'localport_service_restart_attempt', { service: 'api' })).toBe(3);
    expect(sampleValue(f, 'localport_service_next_retry_timestamp_seconds', { service: 'api' })).toBe(1767225610);
    expect(sampleValue(f, 'localport_service_state_since_timestamp_seconds', { service: 'db' })).toBe(1767225600);
    for (const [name, value] of [
      ['localport_service_connections_active', 1],
      ['localport_service_connections_total', 7],
      ['localport_service_connections_held', 0],
      ['localport_service_connections_held_total', 3],
      ['localport_service_connections_timed_out_total', 1],
      ['localport_service_connections_cut_total', 2],
      ['localport_service_connections_replayed_total', 1],
      ['localport_service_received_bytes_total', 1234],
      ['localport_service_sent_bytes_total', 56789],
      ['localport_service_max_hold_seconds', 1.5],
    ] as const) {
      expect([name, sampleValue(f, name, { service: 'db' })]).toEqual([name, value]);
      // No relay, no traffic series.
      expect(f.get(name)!.samples.filter((s) => s.labels.service === 'api')).toEqual([]);
    }
    expect(sampleValue(f, 'localport_health_check_duration_seconds', { service: 'db', check: 'postgres' })).toBe(0.0125);
    expect(sampleValue(f, 'localport_service_connection_info', { service: 'db', connection: 'ssh#1', endpoint: 'deploy@bastion:22' })).toBe(1);
    // Two services on one connection: its restarts once.
    expect(f.get('localport_connection_restarts_total')!.samples).toEqual([{ name: 'localport_connection_restarts_total', labels: { connection: 'ssh#1', endpoint: 'deploy@bastion:22' }, value: 3 }]);
    // Label values are escaped, and read back as they were.
    expect(sampleValue(f, 'localport_service_info', { service: 'db' })).toBe(1);
    expect(f.get('localport_service_info')!.samples[0].labels.target).toBe('deploy@db "east"\\1:5432');
    expect(sampleValue(f, 'localport_config_reload_failed')).toBe(0);

    // The next scrape reads the status again: a removed service is gone, counters follow the status.
    snap = { services: [status('db', { traffic: { ...status('db').traffic!, total: 8, bytesIn: 2000 } })], reloadError: 'bad config' };
    const g = parsePrometheus(await metrics.render());
    expect(sampleValue(g, 'localport_service_connections_total', { service: 'db' })).toBe(8);
    expect(sampleValue(g, 'localport_service_received_bytes_total', { service: 'db' })).toBe(2000);
    expect(g.get('localport_service_state')!.samples.some((s) => s.labels.service === 'api')).toBe(false);
    expect(sampleValue(g, 'localport_config_reload_failed')).toBe(1);
  });
});

describe('parsePrometheus (the test helper) refuses what Prometheus would', () => {
  it.each([
    ['no TYPE', 'a 1\n'],
    ['a bad value', '# TYPE a gauge\na one\n'],
    ['a bad label', '# TYPE a gauge\na{1x="y"} 1\n'],
    ['an unclosed label', '# TYPE a gauge\na{x="y} 1\n'],
    ['a bad escape', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['a repeated series', '# TYPE a gauge\na{x="y"} 1\na{x="y"} 2\n'],
    ['a negative counter', '# TYPE a counter\na -1\n'],
    ['a split family', '# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n'],
    ['no final newline', '# TYPE a gauge\na 1'],
  ])('%s', (_why, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });
});
