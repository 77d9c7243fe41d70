import type { ServiceState, ServiceStatus } from '../core/types.js';

/**
 * The daemon's Prometheus metrics (`GET /metrics`), built with prom-client. Every value is read from
 * the supervisor's status at scrape time, in the metrics' collect callbacks: there is no second
 * bookkeeping that could drift from what `localport status` shows. prom-client is imported on the
 * first scrape, so a daemon nobody scrapes never loads it.
 */

/** What one scrape reads: the daemon's status, redacted. */
export interface MetricsSnapshot {
  services: ServiceStatus[];
  /** The last config reload failed (the daemon keeps running the previous config). */
  reloadError: string | null;
}

export interface Metrics {
  /** The Prometheus text exposition format's content type (version 0.0.4). */
  readonly contentType: string;
  render(): Promise<string>;
}

// Every state, so a state with no service still shows as 0 and a typo is a type error.
const STATES = Object.keys({ stopped: 1, idle: 1, starting: 1, ready: 1, restarting: 1, failed: 1, stopping: 1, unresolved: 1 } satisfies Record<ServiceState, 1>) as ServiceState[];
const HEALTH = ['healthy', 'unhealthy', 'unknown'] as const;

type Labels = Record<string, string>;
/** The series of one metric for one service: its labels (beyond `service`) and value. */
type Series = [Labels, number][];

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);

export async function createMetrics(snapshot: () => MetricsSnapshot): Promise<Metrics> {
  const { Registry, Gauge, Counter } = await import('prom-client');
  const registry = new Registry();
  let now: MetricsSnapshot = { services: [], reloadError: null };

  /**
   * One metric whose series are computed from each service's status at scrape time. A counter is
   * reset and set to the status's own total (which only grows for the life of the service), so a
   * removed service's series go away with it.
   */
  const perService = (kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], values: (s: ServiceStatus) => Series | number | undefined) => {
    const Metric = kind === 'gauge' ? Gauge : Counter;
    new Metric({
      name,
      help,
      labelNames: ['service', ...labelNames],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of now.services) {
          const v = values(s);
          if (v === undefined) continue;
          for (const [labels, value] of typeof v === 'number' ? ([[{}, v]] as Series) : v) {
            if (!Number.isFinite(value)) continue;
            const l = { service: s.name, ...labels };
            if (this instanceof Gauge) this.set(l, value);
            else (this as InstanceType<typeof Counter>).inc(l, value);
          }
        }
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], values: (s: ServiceStatus) => Series | number | undefined) => perService('gauge', name, help, labelNames, values);
  const counter = (name: string, help: string, values: (s: ServiceStatus) => number | undefined) => perService('counter', name, help, [], values);
  const traffic = (pick: (t: NonNullable<ServiceStatus['traffic']>) => number) => (s: ServiceStatus) => (s.traffic ? pick(s.traffic) : undefined);

  gauge('localport_service_info', 'A service of the config (always 1): its technology and target.', ['technology', 'target'], (s) => [[{ technology: s.technology, target: s.target }, 1]]);
  gauge('localport_service_state', 'The service state: 1 for the current one, 0 for the others.', ['state'], (s) => STATES.map((st) => [{ state: st }, s.state === st ? 1 : 0]));
  gauge('localport_service_state_since_timestamp_seconds', 'When the current state began (Unix time).', [], (s) => seconds(s.since));
  gauge('localport_service_health', 'Health through the tunnel: 1 for the current one of healthy, unhealthy, unknown.', ['health'], (s) =>
    HEALTH.map((h) => [{ health: h }, (s.health?.state ?? 'unknown') === h ? 1 : 0]),
  );
  counter('localport_service_restarts_total', 'Successful restarts of the service.', (s) => s.restarts);
  counter('localport_service_failed_attempts_total', 'Start and restart attempts that failed.', (s) => s.failedAttempts ?? 0);
  gauge('localport_service_restart_attempt', 'The restart attempt under way (0 when none).', [], (s) => s.attempt ?? 0);
  gauge('localport_service_next_retry_timestamp_seconds', 'When the next restart attempt is due (Unix time), while one is scheduled.', [], (s) => seconds(s.nextRetryAt));
  gauge('localport_service_connections_active', 'Client connections being relayed now.', [], traffic((t) => t.active));
  counter('localport_service_connections_total', 'Client connections accepted.', traffic((t) => t.total));
  gauge('localport_service_connections_held', 'Client connections waiting for the tunnel now.', [], traffic((t) => t.held));
  counter('localport_service_connections_held_total', 'Client connections that had to wait for the tunnel.', traffic((t) => t.heldTotal));
  counter('localport_service_connections_timed_out_total', 'Client connections closed after waiting hold_timeout for the tunnel.', traffic((t) => t.timedOut));
  counter('localport_service_connections_cut_total', 'Client connections in flight when their tunnel went away.', traffic((t) => t.cut));
  counter('localport_service_connections_replayed_total', 'Client connections reset unread by a dying tunnel and sent again to the next one.', traffic((t) => t.replayed));
  counter('localport_service_received_bytes_total', 'Bytes from clients to the service (status: bytesIn).', traffic((t) => t.bytesIn));
  counter('localport_service_sent_bytes_total', 'Bytes from the service back to clients (status: bytesOut).', traffic((t) => t.bytesOut));
  gauge('localport_service_max_hold_seconds', 'The longest any connection waited for the tunnel.', [], traffic((t) => t.maxHoldMs / 1000));
  gauge('localport_health_check_duration_seconds', 'How long the last completed health check took.', ['check'], (s) =>
    s.health?.latencyMs == null ? undefined : [[{ check: s.health.type }, s.health.latencyMs / 1000]],
  );
  gauge('localport_health_check_consecutive_failures', 'Health checks failed in a row.', ['check'], (s) => (s.health ? [[{ check: s.health.type }, s.health.consecutiveFailures]] : undefined));
  gauge('localport_service_connection_info', 'The shared connection the service rides on (ssh: its OpenSSH master), 1 while it does.', ['connection', 'endpoint'], (s) =>
    s.connection ? [[{ connection: s.connection.id, endpoint: s.connection.label }, 1]] : undefined,
  );
  new Counter({
    name: 'localport_connection_restarts_total',
    help: 'Restarts of a shared connection after its first start.',
    labelNames: ['connection', 'endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      const seen = new Set<string>();
      for (const { connection: c } of now.services) {
        if (!c || seen.has(c.id)) continue;
        seen.add(c.id);
        this.inc({ connection: c.id, endpoint: c.label }, c.restarts);
      }
    },
  });
  new Gauge({
    name: 'localport_config_reload_failed',
    help: '1 while the last config reload failed (the daemon keeps the previous config).',
    registers: [registry],
    collect() {
      this.set(now.reloadError ? 1 : 0);
    },
  });

  // One scrape at a time: each reads the snapshot it took.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render() {
      const next = queue.then(async () => {
        now = snapshot();
        try {
          return await registry.metrics();
        } finally {
          now = { services: [], reloadError: null };
        }
      });
      queue = next.catch(() => {});
      return next;
    },
  };
}
