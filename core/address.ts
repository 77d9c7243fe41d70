import net from 'node:net';
import type { ServiceDefinition, Technology } from './types.js';

/**
 * Where a service's local end listens, and what that means for reaching it and for sharing a port:
 * one set of rules, used by validation, the supervisor, status and the bind-address check.
 */

/** Where a forward listens unless its technology's settings say otherwise: this machine only. */
export const DEFAULT_BIND_ADDRESS = '127.0.0.1';

const strip = (address: string) => address.replace(/^\[|\]$/g, '');

/** The IPv6 loopback: listened on beside 127.0.0.1 by default, where the machine has it. */
export const IPV6_LOOPBACK = '::1';

/** The bind address the user configured for a service (its technology reads its `connection`), if any. */
export function configuredAddress(technology: Technology, connection: unknown): string | undefined {
  const a = technology.localAddress?.(connection);
  return typeof a === 'string' && a !== '' ? a : undefined;
}

/** The address a service's forward binds to, as its technology reads its `connection`. */
export function bindAddressOf(technology: Technology, connection: unknown): string {
  return configuredAddress(technology, connection) ?? DEFAULT_BIND_ADDRESS;
}

/**
 * Every address a service listens on. With the relay and no bind address (or `localhost`): 127.0.0.1
 * and ::1, since Node 17+ and most tools resolve `localhost` to ::1 first (::1 is skipped where the
 * machine has no IPv6 loopback, see `optionalHosts`). An explicit address is honoured exactly.
 */
export function listenHosts(technology: Technology, service: Pick<ServiceDefinition, 'relay' | 'connection'>): string[] {
  const configured = configuredAddress(technology, service.connection);
  if (!service.relay) return [strip(configured ?? DEFAULT_BIND_ADDRESS)];
  if (configured === undefined || configured === 'localhost') return [DEFAULT_BIND_ADDRESS, IPV6_LOOPBACK];
  return [strip(configured)];
}

/** The addresses of `listenHosts` that may be missing on this machine without failing the start. */
export const optionalHosts = (hosts: string[]) => (hosts.length > 1 ? hosts.filter((h) => h === IPV6_LOOPBACK) : []);

/** How an address is shown: IPv6 in brackets, so `[::1]:5432` is unambiguous. */
// (A colon, not net.isIPv6: no host name has one, and the first isIPv6 call costs `status` ~3 ms.)
export const showAddress = (host: string, port: number) => (strip(host).includes(':') ? `[${strip(host)}]:${port}` : `${host}:${port}`);

/** Where a client (a health check, `run`'s command) reaches a forward bound to `address`: a wildcard on loopback. */
export function reachableAddress(address: string): string {
  const a = strip(address);
  return a === '0.0.0.0' || a === '*' ? '127.0.0.1' : a === '::' ? '::1' : a;
}

/**
 * Whether two forwards on the same port would collide. The same address does; so does a wildcard:
 * `0.0.0.0` holds the port on every IPv4 address, and `::` (dual-stack, as Linux binds it) on every
 * address. `127.0.0.1` and `::1` do not collide.
 */
export function bindsOverlap(a: string, b: string): boolean {
  const [x, y] = [strip(a), strip(b)];
  if (x === y || x === '::' || y === '::') return true;
  const v4Wildcard = (v: string) => v === '0.0.0.0' || v === '*';
  if (v4Wildcard(x)) return net.isIPv6(y) === false;
  if (v4Wildcard(y)) return net.isIPv6(x) === false;
  return false;
}

/**
 * Where a service listens, in one short cell: `127.0.0.1:5432`; `localhost:5432` for both loopbacks (the
 * default); other addresses on one port as `10.0.0.1,[fd00::1]:5432`. `status --output json` lists each.
 */
export function showListen(listen: readonly string[], port: number | null): string {
  // An unresolved service whose port is a variable not set: no port to show.
  if (port === null) return '-';
  if (listen.length === 0) return `:${port}`;
  // Both loopbacks, the default: what a client types.
  if (listen.length === 2 && listen[0] === `127.0.0.1:${port}` && listen[1] === `[::1]:${port}`) return `localhost:${port}`;
  if (listen.length === 1) return listen[0];
  const suffix = `:${port}`;
  return listen.every((l) => l.endsWith(suffix)) ? `${listen.map((l) => l.slice(0, -suffix.length)).join(',')}${suffix}` : listen.join(',');
}
