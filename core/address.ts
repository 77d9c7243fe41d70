import net from 'node:net';
import type { Technology } from './types.js';

/**
 * Where a service's local end listens, and what that means for reaching it and for sharing a port:
 * one set of rules, used by validation, the supervisor, status and the bind-address check.
 */

/** Where a forward listens unless its technology's settings say otherwise: this machine only. */
export const DEFAULT_BIND_ADDRESS = '127.0.0.1';

const strip = (address: string) => address.replace(/^\[|\]$/g, '');

/** The address a service's forward binds to, as its technology reads its `connection`. */
export function bindAddressOf(technology: Technology, connection: unknown): string {
  return technology.localAddress?.(connection) ?? DEFAULT_BIND_ADDRESS;
}

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
