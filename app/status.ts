import { listenHosts, reachableAddress, showAddress } from '../core/address.js';
import { readRunState, runStateFile } from '../core/runstate.js';
import { selectServices } from '../core/supervisor/select.js';
import type { ServiceDefinition, ServiceStatus, View } from '../core/types.js';
import type { Project } from './project.js';
import type { LocalPort } from '../core/LocalPort.js';

/** A configured service that nothing runs. Not redacted: where it leaves the process is (render, the daemon's reply). */
export function stoppedStatus(hub: LocalPort, s: ServiceDefinition): ServiceStatus {
  const tech = hub.technologies.get(s.technology);
  const hosts = listenHosts(tech, s);
  return {
    name: s.name,
    technology: s.technology,
    state: 'stopped',
    pid: null,
    localAddress: reachableAddress(hosts[0]),
    localPort: s.localPort,
    listen: hosts.map((h) => showAddress(h, s.localPort)),
    remotePort: s.remotePort,
    target: tech.describeTarget(s),
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
 * `status`: what the LocalPort running for this config (foreground `run` or the daemon) publishes;
 * every configured service not running is shown as stopped. Named services must exist.
 */
export function statusView(project: Project, names: string[]): View {
  const { config } = project;
  const wanted = names.length ? selectServices(config, { names }) : config.services;
  const state = config.file ? readRunState(runStateFile(config.file)) : undefined;
  const live = new Map((state?.services ?? []).map((s) => [s.name, s]));
  const services = wanted.map((s) => live.get(s.name) ?? stoppedStatus(project.hub, s));
  return {
    kind: 'status',
    services,
    runner: state ? { mode: state.mode, pid: state.pid, config: state.config } : null,
    config: config.file ?? null,
  };
}
