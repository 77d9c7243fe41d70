/**
 * The event stream: what `localport events` follows from the daemon and `localport run --events`
 * writes, one JSON object per line (NDJSON). One module holds the model — the types, the mapping from
 * core's hooks (`toEvent`), the schema version and the field table the README and a test pin — so the
 * daemon and `run` cannot drift apart. Light on purpose: `localport events` imports it.
 */
import type { HealthChange, RestartInfo, ShutdownPhaseInfo, StateChange } from '../core/hooks.js';
import type { LocalPort } from '../core/LocalPort.js';
import { printable } from '../core/printable.js';
import type { Redactor } from '../core/redact.js';
import type { ServiceDefinition, ServiceState } from '../core/types.js';

/**
 * The schema's version, in every event as `v`. It changes only when a field is removed, renamed or
 * changes meaning; new event types and new fields are added within a version, so readers should
 * ignore types and fields they do not know.
 */
export const EVENT_SCHEMA_VERSION = 1;

type HealthName = HealthChange['from'];

interface Base {
  v: typeof EVENT_SCHEMA_VERSION;
  /** When it happened, ISO 8601 in UTC. */
  time: string;
}

export type StateEvent = Base & { type: 'state'; service: string; from: ServiceState; to: ServiceState; error?: string };
export type HealthEvent = Base & { type: 'health'; service: string; from: HealthName; to: 'healthy' | 'unhealthy'; check: string; message?: string; kind?: string; code?: string };
export type RestartEvent = Base & { type: 'restart'; service: string; attempt: number; delay: number; reason: string };
export type ReloadEvent = Base & { type: 'reload'; applied: boolean; added?: string[]; removed?: string[]; changed?: string[]; error?: string };
export type ShutdownEvent = Base & { type: 'shutdown'; phase: ShutdownPhaseInfo['phase']; step: number; timeout: number };
export type ReadyEvent = Base & { type: 'ready'; services: string[] };
export type DroppedEvent = Base & { type: 'dropped'; count: number };

export type LocalPortEvent = StateEvent | HealthEvent | RestartEvent | ReloadEvent | ShutdownEvent | ReadyEvent | DroppedEvent;
export type EventType = LocalPortEvent['type'];

/** What happened, as the hooks (and the daemon's reload, and `run`) say it; `toEvent` turns it into an event. */
export type EventSource =
  | { kind: 'state'; change: StateChange }
  | { kind: 'health'; change: HealthChange }
  | { kind: 'restart'; service: ServiceDefinition; restart: RestartInfo }
  | { kind: 'reload'; result: { ok: boolean; error?: string; added: string[]; removed: string[]; changed: string[] } }
  | { kind: 'shutdown'; phase: ShutdownPhaseInfo }
  | { kind: 'ready'; services: string[] }
  | { kind: 'dropped'; count: number };

const PHASES: readonly ShutdownPhaseInfo['phase'][] = ['stop-new-work', 'complete-current', 'cancel-tasks', 'force-kill'];

/** `text` redacted and made printable: errors and messages may quote a tunnel's or a peer's output. */
const shown = (redactor: Redactor, text: string) => printable(redactor.text(text));

/**
 * The event for `source`, its secrets redacted (every string through the hub's redactor, as every
 * output of LocalPort) and its free text made printable. Optional fields are left out, never null.
 */
export function toEvent(source: EventSource, redactor: Redactor, now: Date = new Date()): LocalPortEvent {
  const base = { v: EVENT_SCHEMA_VERSION, time: now.toISOString() } as const;
  let event: LocalPortEvent;
  switch (source.kind) {
    case 'state': {
      const c = source.change;
      event = { ...base, type: 'state', service: c.service.name, from: c.from, to: c.to, ...(c.error ? { error: shown(redactor, c.error) } : {}) };
      break;
    }
    case 'health': {
      const { service, from, healthy, result } = source.change;
      event = {
        ...base,
        type: 'health',
        service: service.name,
        from,
        to: healthy ? 'healthy' : 'unhealthy',
        check: service.healthCheck.type,
        ...(result.message ? { message: shown(redactor, result.message) } : {}),
        ...(!healthy && result.kind ? { kind: result.kind } : {}),
        ...(result.code ? { code: shown(redactor, result.code) } : {}),
      };
      break;
    }
    case 'restart':
      event = { ...base, type: 'restart', service: source.service.name, attempt: source.restart.attempt, delay: Math.round(source.restart.delay * 1000) / 1000, reason: shown(redactor, source.restart.reason) };
      break;
    case 'reload': {
      const r = source.result;
      event = r.ok
        ? { ...base, type: 'reload', applied: true, added: r.added, removed: r.removed, changed: r.changed }
        : { ...base, type: 'reload', applied: false, error: shown(redactor, r.error ?? 'the config is invalid') };
      break;
    }
    case 'shutdown':
      event = { ...base, type: 'shutdown', phase: source.phase.phase, step: PHASES.indexOf(source.phase.phase) + 1, timeout: source.phase.timeout };
      break;
    case 'ready':
      event = { ...base, type: 'ready', services: source.services };
      break;
    case 'dropped':
      event = { ...base, type: 'dropped', count: source.count };
      break;
  }
  // Names and lists too: a service name or a secret-bearing value anywhere is replaced.
  return redactor.data(event);
}

const PLUGIN_NAME = 'localport:events';

/**
 * Taps the hooks that make events and hands each one to `emit`, in the order core fires them. The
 * restart tap runs last among `beforeRestart`'s (stage 1000): a bail hook stops at the first veto, so
 * it is reached only when the restart is really scheduled. Every tap is an observer that returns
 * nothing and never throws into core (`emit` must not throw; it is guarded here anyway).
 */
export function tapEvents(hub: LocalPort, emit: (event: LocalPortEvent) => void): void {
  const send = (source: EventSource) => {
    try {
      emit(toEvent(source, hub.redactor));
    } catch {
      /* an output that fails (a closed file) must not disturb a service's state machine */
    }
  };
  hub.hooks.stateChanged.tap(PLUGIN_NAME, (change) => send({ kind: 'state', change }));
  hub.hooks.healthChanged.tap(PLUGIN_NAME, (change) => send({ kind: 'health', change }));
  hub.hooks.beforeRestart.tap({ name: PLUGIN_NAME, stage: 1000 }, (service, restart) => {
    send({ kind: 'restart', service, restart });
    return undefined;
  });
  hub.hooks.shutdownPhase.tap(PLUGIN_NAME, (phase) => send({ kind: 'shutdown', phase }));
}

/** Whether `event` concerns the services a subscriber asked for (events of no service concern everyone). */
export function wanted(event: LocalPortEvent, names: readonly string[]): boolean {
  return names.length === 0 || !('service' in event) || names.includes(event.service);
}

/** One line for a human: time, service, what happened. Printable (the daemon's events are, but a line may come from elsewhere). */
export function describeEvent(e: LocalPortEvent): string {
  const who = 'service' in e ? `${e.service}: ` : '';
  let what: string;
  switch (e.type) {
    case 'state':
      what = `${e.from} → ${e.to}${e.error ? ` (${e.error})` : ''}`;
      break;
    case 'health':
      what = `${e.to} (${e.check}${e.to === 'unhealthy' && e.kind ? ` ${e.kind}${e.code ? ` ${e.code}` : ''}` : ''}${e.message ? `: ${e.message}` : ''})`;
      break;
    case 'restart':
      what = `restart attempt ${e.attempt} in ${e.delay} s: ${e.reason}`;
      break;
    case 'reload':
      what = e.applied
        ? `config reloaded: ${[['added', e.added], ['removed', e.removed], ['changed', e.changed]]
            .filter(([, l]) => (l as string[] | undefined)?.length)
            .map(([k, l]) => `${k} ${(l as string[]).join(', ')}`)
            .join('; ') || 'nothing changed'}`
        : `config reload refused, the running services stay as they are: ${e.error}`;
      break;
    case 'shutdown':
      what = `shutdown ${e.step}/${PHASES.length}: ${e.phase}`;
      break;
    case 'ready':
      what = `ready: ${e.services.join(', ')}`;
      break;
    case 'dropped':
      what = `${e.count} event${e.count === 1 ? '' : 's'} dropped: this reader fell behind`;
      break;
    default:
      what = `${(e as { type: string }).type} event`;
  }
  return printable(`${e.time} ${who}${what}`);
}

/** How a field is checked: its JSON type, and whether it may be absent. */
export interface FieldSpec {
  type: 'string' | 'number' | 'boolean' | 'string[]';
  optional?: boolean;
  /** One of these values. */
  values?: readonly string[];
  doc: string;
}

const SERVICE_STATES: readonly ServiceState[] = ['stopped', 'idle', 'starting', 'ready', 'restarting', 'failed', 'stopping'];
const COMMON: Record<string, FieldSpec> = {
  v: { type: 'number', doc: `schema version (${EVENT_SCHEMA_VERSION})` },
  type: { type: 'string', doc: 'the event type' },
  time: { type: 'string', doc: 'when, ISO 8601 UTC' },
};
const SERVICE: FieldSpec = { type: 'string', doc: 'the service' };

/**
 * Every event type and its fields besides `v`, `type` and `time`: the README's table is written from
 * it and a test compares the two, and the tests check real events against it (`eventProblems`).
 */
export const EVENT_FIELDS: Readonly<Record<EventType, { doc: string; fields: Record<string, FieldSpec> }>> = {
  state: {
    doc: 'a service changed state',
    fields: {
      service: SERVICE,
      from: { type: 'string', values: SERVICE_STATES, doc: 'the state before' },
      to: { type: 'string', values: SERVICE_STATES, doc: 'the state now' },
      error: { type: 'string', optional: true, doc: 'the failure that caused it' },
    },
  },
  health: {
    doc: "a service's health check verdict flipped",
    fields: {
      service: SERVICE,
      from: { type: 'string', values: ['unknown', 'healthy', 'unhealthy'], doc: 'the health before (`unknown` after a (re)start)' },
      to: { type: 'string', values: ['healthy', 'unhealthy'], doc: 'the health now' },
      check: { type: 'string', doc: 'the check type (tcp, http, postgres, …)' },
      message: { type: 'string', optional: true, doc: "the check's last result" },
      kind: { type: 'string', optional: true, values: ['unreachable', 'service_down', 'auth_rejected', 'timeout', 'protocol'], doc: 'what failed, when unhealthy' },
      code: { type: 'string', optional: true, doc: "the peer's own error code (PostgreSQL's `28P01`)" },
    },
  },
  restart: {
    doc: 'an automatic restart is scheduled',
    fields: {
      service: SERVICE,
      attempt: { type: 'number', doc: '1 for the first restart since the service was last stable' },
      delay: { type: 'number', doc: 'seconds until the restart' },
      reason: { type: 'string', doc: 'why' },
    },
  },
  reload: {
    doc: 'the daemon reloaded its config (applied) or refused an invalid one (the running services stay)',
    fields: {
      applied: { type: 'boolean', doc: 'whether the new config was applied' },
      added: { type: 'string[]', optional: true, doc: 'services started (when applied)' },
      removed: { type: 'string[]', optional: true, doc: 'services stopped (when applied)' },
      changed: { type: 'string[]', optional: true, doc: 'services replaced (when applied)' },
      error: { type: 'string', optional: true, doc: 'why it was refused (when not applied)' },
    },
  },
  shutdown: {
    doc: "a phase of the daemon's or `run`'s shutdown began; the daemon's last events, before it closes the stream",
    fields: {
      phase: { type: 'string', values: PHASES, doc: 'the phase' },
      step: { type: 'number', doc: `its place, 1 to ${PHASES.length}` },
      timeout: { type: 'number', doc: 'seconds it may take' },
    },
  },
  ready: {
    doc: '`run` only: every selected service is healthy; written before the command starts',
    fields: { services: { type: 'string[]', doc: 'the services' } },
  },
  dropped: {
    doc: 'daemon only: this subscriber fell behind and this many events were left out for it',
    fields: { count: { type: 'number', doc: 'how many' } },
  },
};

/** What is wrong with `value` as an event of this schema version: an empty list when nothing is. */
export function eventProblems(value: unknown): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return ['not an object'];
  const e = value as Record<string, unknown>;
  const spec = EVENT_FIELDS[e.type as EventType];
  if (!spec) return [`unknown type ${JSON.stringify(e.type)}`];
  const fields = { ...COMMON, ...spec.fields };
  const problems: string[] = [];
  if (e.v !== EVENT_SCHEMA_VERSION) problems.push(`v is ${JSON.stringify(e.v)}, not ${EVENT_SCHEMA_VERSION}`);
  if (typeof e.time !== 'string' || Number.isNaN(Date.parse(e.time)) || new Date(e.time).toISOString() !== e.time) problems.push(`time ${JSON.stringify(e.time)} is not ISO 8601 UTC`);
  for (const [name, f] of Object.entries(fields)) {
    const x = e[name];
    if (x === undefined) {
      if (!f.optional) problems.push(`${e.type}: ${name} is missing`);
      continue;
    }
    const ok = f.type === 'string[]' ? Array.isArray(x) && x.every((i) => typeof i === 'string') : typeof x === f.type;
    if (!ok) problems.push(`${e.type}: ${name} is not a ${f.type}`);
    else if (f.values && !f.values.includes(x as string)) problems.push(`${e.type}: ${name} ${JSON.stringify(x)} is not one of ${f.values.join(', ')}`);
  }
  for (const name of Object.keys(e)) if (!(name in fields)) problems.push(`${e.type}: unknown field ${name}`);
  return problems;
}
