import net from 'node:net';
import { bindAddressOf } from '../address.js';
import os from 'node:os';
import { ConfigError, type ConfigProblem } from '../errors.js';
import type { Registry } from '../registry.js';
import type { ResolvedConfig, Technology } from '../types.js';
import { describePath } from './keys.js';

/** How long a bind address's name may take to resolve before the check leaves it to start-up. */
const LOOKUP_MS = 2000;

/** Whether `address` (an IP literal) can be listened on here: a wildcard, loopback, or an interface's address. */
/** An IPv6 literal in its one canonical spelling (`0:0:0:0:0:0:0:1` → `::1`); anything else as it is. */
function canonical(ip: string): string {
  // No colon, no IPv6: Node's IPv6 pattern is long, and compiling it was ~3 ms of every command that
  // checks a config whose addresses are all IPv4 (issue #15's cold start).
  if (!ip.includes(':') || !net.isIPv6(ip)) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

export function isLocalAddress(address: string): boolean {
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '').toLowerCase();
  const v4 = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : canonical(ip);
  // Linux answers for all of 127.0.0.0/8, though `lo` lists only 127.0.0.1.
  if (v4 === '0.0.0.0' || (net.isIPv4(v4) && v4.startsWith('127.'))) return true;
  if (v4 === '::' || v4 === '::1') return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => canonical(i.address.toLowerCase().replace(/%.*$/, '')) === v4));
}

/** The address `name` resolves to — the one net.listen would use — or the resolver's error code. */
async function lookup(name: string): Promise<{ address?: string; code?: string }> {
  // Imported here: most configs name no host to bind to, and every command that loads one pays for the module.
  const dns = await import('node:dns');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({}), LOOKUP_MS);
    dns.lookup(name, (error, address) => {
      clearTimeout(timer);
      resolve(error ? { code: error.code ?? 'ENOTFOUND' } : { address });
    });
  });
}

/**
 * Every enabled service's local (bind) address must be one this machine can listen on: an IP literal
 * of a local interface, or a name that resolves to one. Checked when the config is loaded, so
 * `config validate`, `run`, `start` and a daemon reload all refuse it the same way, instead of the
 * listen failing later and reading as "port in use". Only the local resolver is asked: no traffic
 * goes to the address. A name the resolver cannot answer for within 2 s is left to start-up.
 */
export async function checkBindAddresses(config: ResolvedConfig, raw: unknown, technologies: Registry<Technology>): Promise<void> {
  const services = config.services.filter((s) => s.enabled && technologies.has(s.technology));
  const addresses = new Map<string, Promise<{ address?: string; code?: string }>>();
  for (const s of services) {
    const address = bindAddressOf(technologies.get(s.technology), s.connection);
    if (!net.isIP(address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')) && !addresses.has(address)) addresses.set(address, lookup(address));
  }
  const problems: ConfigProblem[] = [];
  const rawServices = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).services : undefined;
  for (const s of services) {
    const address = bindAddressOf(technologies.get(s.technology), s.connection);
    let message: string | undefined;
    const resolving = addresses.get(address);
    if (!resolving) {
      if (!isLocalAddress(address)) message = `${address} is not an address of this machine, so nothing can listen on it; use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of this machine's addresses`;
    } else {
      const found = await resolving;
      if (found.code) message = `bind address '${address}' does not resolve (${found.code}); use an IP address such as 127.0.0.1, or a name this machine resolves to itself`;
      else if (found.address && !isLocalAddress(found.address)) message = `bind address '${address}' resolves to ${found.address}, which is not an address of this machine; use 127.0.0.1 or one of this machine's addresses`;
    }
    if (!message) continue;
    // The key as the user wrote it: the connection key holding the address (bind_address, address, …).
    const key = Object.entries(s.connection).find(([, v]) => v === address)?.[0];
    const index = Array.isArray(rawServices) ? rawServices.findIndex((r) => r && typeof r === 'object' && (r as Record<string, unknown>).name === s.name) : -1;
    const base: PropertyKey[] = index >= 0 ? ['services', index] : ['services', s.name];
    problems.push({ file: config.file, path: describePath(raw, key ? [...base, 'connection', key] : base), message });
  }
  if (problems.length) throw new ConfigError(problems, undefined, 'CONFIG_BIND_ADDRESS');
}
