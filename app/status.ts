import { listenHosts, reachableAddress, showAddress } from '../core/address.js';
import { readRunState, runStateFile } from '../core/runstate.js';
import { selectServices } from '../core/supervisor/select.js';
import type { ResolvedConfig, ServiceDefinition, ServiceStatus, UnresolvedService, View } from '../core/types.js';
import type { Project } from './project.js';
import type { LocalPort } from '../core/LocalPort.js';

/** A configured service that nothing runs. Not redacted: where it leaves the process is (render, the daemon's reply). */
export function stoppedStatus(hub: LocalPort, s: ServiceDefinition, known = true): ServiceStatus {
  const tech = known ? hub.technologies.get(s.technology) : undefined;
  const hosts = tech ? listenHosts(tech, s) : [];
  return {
    name: s.name,
    technology: s.technology,
    state: 'stopped',
    pid: null,
    localAddress: hosts.length ? reachableAddress(hosts[0]) : '',
    localPort: s.localPort,
    listen: hosts.map((h) => showAddress(h, s.localPort)),
    remotePort: s.remotePort,
    target: tech ? tech.describeTarget(s) : '',
    tags: s.tags,
    restarts: 0,
    attempt: 0,
    failedAttempts: 0,
    nextRetryAt: null,
    lastErrorAt: null,
    relay: s.relay,
    start: s.start,
    traffic: null,
    since: null,
    lastError: null,
    health: null,
    connection: null,
  };
}

/**
 * A service that needs environment variables not set where the config was resolved (`whose`: the
 * daemon's environment, or this command's): named, in state `unresolved`, its last error saying which
 * variables and where each is used. What is known of it (its definition, when only a string held the
 * variable; else its technology and ports as written) is shown.
 */
export function unresolvedStatus(hub: LocalPort, u: UnresolvedService, def: ServiceDefinition | undefined, whose: string): ServiceStatus {
  const base: ServiceStatus = def
    ? stoppedStatus(hub, def)
    : {
        ...stoppedStatus(hub, { name: u.name, technology: u.technology ?? '-', localPort: u.localPort ?? 0, remotePort: u.remotePort ?? 0, tags: u.tags, relay: true, start: 'eager' } as ServiceDefinition, false),
        localPort: u.localPort ?? null,
        remotePort: u.remotePort ?? null,
      };
  // `services[2] (cache).local_port` → `local_port`: the row names the service already.
  const key = (p: string) => p.replace(/^services(\[\d+\]( \([^)]*\))?|\.[^.]+)\./, '');
  const one = u.variables.length === 1;
  const uses = [...new Set(u.problems.map((p) => key(p.path)))].join(', ');
  return {
    ...base,
    state: 'unresolved',
    lastError: `not resolvable: ${u.variables.join(', ')} ${one ? 'is' : 'are'} not set in ${whose} (used in ${uses})`,
    unsetVariables: u.variables,
  };
}

/**
 * Each service of the config, in the order `status` shows them: the resolved ones, then those that did
 * not resolve far enough to be defined; `names` (which must exist) picks some, in their order.
 */
export function statusEntries(config: ResolvedConfig, names: string[]): { name: string; def?: ServiceDefinition; unresolved?: UnresolvedService }[] {
  const unresolved = new Map((config.unresolved ?? []).map((u) => [u.name, u]));
  const defined = new Set(config.services.map((s) => s.name));
  const all = [
    ...config.services.map((def) => ({ name: def.name, def, unresolved: unresolved.get(def.name) })),
    ...[...unresolved.values()].filter((u) => !defined.has(u.name)).map((u) => ({ name: u.name, unresolved: u })),
  ];
  if (!names.length) return all;
  selectServices(config, { names });
  return [...new Set(names)].flatMap((n) => all.filter((e) => e.name === n));
}

/**
 * `status`: what the LocalPort running for this config (foreground `run` or the daemon) publishes;
 * every configured service not running is shown as stopped (or unresolved). Named services must exist.
 */
export function statusView(project: Project, names: string[]): View {
  const { config } = project;
  const state = config.file ? readRunState(runStateFile(config.file)) : undefined;
  const live = new Map((state?.services ?? []).map((s) => [s.name, s]));
  const services = statusEntries(config, names).map(
    (e) => live.get(e.name) ?? (e.unresolved ? unresolvedStatus(project.hub, e.unresolved, e.def, "this command's environment") : stoppedStatus(project.hub, e.def!)),
  );
  return {
    kind: 'status',
    services,
    runner: state ? { mode: state.mode, pid: state.pid, config: state.config } : null,
    config: config.file ?? null,
  };
}
