import path from 'node:path';
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import type { Registry } from '../registry.js';
import type { HealthCheck, HealthCheckSettings, ResolvedConfig, RestartPolicy, ServiceDefinition, Technology } from '../types.js';
import { camel, clip, describePath, snake } from './keys.js';
import { closest } from '../suggest.js';
import { bool, configObject, CONTROL_MESSAGE, count, hasControl, MAX_NAME_LENGTH, nonEmpty, numeric, port, seconds } from './schema.js';
import { MIN_CHECK_INTERVAL } from './limits.js';
import { bindsOverlap, listenHosts } from '../address.js';
import { resolvePathValue } from './paths.js';
import type { PathDirs } from './presets.js';

/**
 * Tuned by bench/recovery.mjs: the first restart comes fast (a killed tunnel is back in ~0.2 s), ×1.5
 * probes a briefly-down server several times in its first second and still backs off to 30 s for a long
 * outage, and one second *healthy* — the check passed through the tunnel — forgives the attempts, so a
 * second outage is met as fast as the first (autossh's backoff keeps climbing instead).
 */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  enabled: true,
  maxAttempts: 0,
  initialDelay: 0.1,
  backoffMultiplier: 1.5,
  maxDelay: 30,
  jitter: 0.1,
  resetAfter: 1,
};

/** Seconds a connection waits for the tunnel before it is closed (`hold_timeout`). */
export const DEFAULT_HOLD_TIMEOUT = 10;

export const DEFAULT_HEALTH_CHECK: Omit<HealthCheckSettings, 'type' | 'config'> = {
  interval: 30,
  timeout: 5,
  failureThreshold: 3,
  successThreshold: 1,
  startupGrace: 0,
};

const restartPolicySchema = configObject({
  enabled: bool().optional(),
  maxAttempts: count().optional(),
  initialDelay: seconds().optional(),
  // ×100 climbs from 0.1 s to the longest timer in four attempts: a larger factor is a typo, not a policy.
  backoffMultiplier: z.preprocess(numeric, z.number({ error: 'must be a number from 1 to 100' }).min(1, 'must be at least 1').max(100, 'must be at most 100')).optional(),
  maxDelay: seconds().optional(),
  jitter: z.preprocess(numeric, z.number({ error: 'must be between 0 and 1' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1')).optional(),
  resetAfter: seconds().optional(),
});

const healthCheckFields = {
  interval: seconds().refine((v) => v >= MIN_CHECK_INTERVAL, `must be at least ${MIN_CHECK_INTERVAL} s (20 checks a second)`).optional(),
  timeout: seconds().refine((v) => v > 0, 'must be more than 0').optional(),
  failureThreshold: count().refine((v) => v >= 1, 'must be at least 1').optional(),
  successThreshold: count().refine((v) => v >= 1, 'must be at least 1').optional(),
  startupGrace: seconds().optional(),
  config: z.record(z.string(), z.unknown()).optional(),
};
const healthCheckSchema = configObject({ type: nonEmpty('a health check type'), ...healthCheckFields });
const healthDefaultsSchema = configObject({ type: nonEmpty('a health check type').optional(), ...healthCheckFields });

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const serviceShape = {
  name: nonEmpty('a service name')
    .max(MAX_NAME_LENGTH, { error: (i) => `must be at most ${MAX_NAME_LENGTH} characters (got ${String(i.input).length}): a name becomes a log file name, a key in state files and a column in status` })
    .regex(NAME, 'must start with a letter or digit and use only letters, digits, ".", "_" and "-"'),
  technology: nonEmpty('a technology name'),
  localPort: port(),
  remotePort: port(),
  connection: z.record(z.string(), z.unknown(), { error: 'must be an object' }).default({}),
  enabled: bool().default(true),
  tags: z.array(z.string().refine((t) => !hasControl(t), CONTROL_MESSAGE), { error: 'must be a list of strings' }).default([]),
  description: z.string().optional(),
  healthCheck: healthCheckSchema.optional(),
  restartPolicy: restartPolicySchema.optional(),
  relay: bool().default(true),
  start: z.enum(['eager', 'lazy'], { error: 'must be eager or lazy' }).default('eager'),
  // Below these, a tunnel would stop between two requests, and a connection would be reset before any
  // tunnel could answer it: mistakes, not settings.
  idleStop: seconds().refine((v) => v >= 1, 'must be at least 1 s').optional(),
  holdTimeout: seconds().refine((v) => v >= 0.1, 'must be at least 0.1 s').default(DEFAULT_HOLD_TIMEOUT),
  // Technologies that can share one connection per endpoint (ssh) do so unless a service says no.
  shareConnection: bool().default(true),
};
const serviceSchema = configObject(serviceShape);
/** The same, with the required keys optional: what is left of a service once its templated keys are taken out. */
const looseServiceSchema = configObject({
  ...serviceShape,
  name: serviceShape.name.optional(),
  technology: serviceShape.technology.optional(),
  localPort: serviceShape.localPort.optional(),
  remotePort: serviceShape.remotePort.optional(),
});
type LooseService = z.infer<typeof looseServiceSchema>;

const topSchema = configObject({
  version: z.union([z.string(), z.number()]).transform(String).default('1.0'),
  defaults: configObject({ healthCheck: healthDefaultsSchema.optional(), restartPolicy: restartPolicySchema.optional() }).default({}),
  services: z.unknown(),
  plugins: z.array(z.unknown()).optional(),
  extends: z.union([z.string(), z.array(z.string())]).optional(),
  // The daemon's loopback HTTP server (/metrics, the dashboard): a fixed port, else one the kernel picks.
  ui: configObject({ port: port().optional() }).optional(),
});

export interface ValidateContext {
  file?: string;
  technologies: Registry<Technology>;
  healthChecks: Registry<HealthCheck>;
  /** Where each service came from, for `config print`: `local`, a preset's name, or `preset + local`. */
  sources?: Map<string, string>;
  /**
   * Services whose variables are not set here (a lenient resolution), each with the keys those variables
   * are used in (`services[2] (cache).local_port`, as describePath writes them). A problem at such a key,
   * or inside it, is not an error (a `${PORT}` is no port yet); any other problem of the service is. A
   * service with such a problem is left out of `services`, the rest of it still checked.
   */
  tolerate?: ReadonlyMap<string, readonly string[]>;
  /**
   * Where a preset set a path key (see mergeLayers): that value is relative to the preset's directory.
   * Any other relative path value is relative to the directory of `file`.
   */
  pathDirs?: PathDirs;
}

const UNKNOWN_KEY = 'unknown key; remove it or check its spelling';

/**
 * The keys an object schema takes at `path` inside `schema`, through lazy, optional, default and pipe
 * wrappers, arrays and records; undefined where that is not one object schema (a union, say).
 */
function keysAt(schema: z.ZodType, path: PropertyKey[]): string[] | undefined {
  let s: unknown = schema;
  for (let i = 0; ; ) {
    const def = (s as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
    if (!def) return undefined;
    if (def.type === 'lazy') s = (def.getter as () => unknown)();
    else if (['optional', 'default', 'nullable', 'readonly', 'catch', 'prefault', 'nonoptional'].includes(def.type as string)) s = def.innerType;
    // z.preprocess (configObject): a transform into the schema; otherwise a schema piped onwards.
    else if (def.type === 'pipe') s = (def.in as { _zod?: { def?: { type?: string } } })?._zod?.def?.type === 'transform' ? def.out : def.in;
    else if (i === path.length) return def.type === 'object' ? Object.keys(def.shape as object) : undefined;
    else if (def.type === 'object') s = (def.shape as Record<string, unknown>)[String(path[i++])];
    else if (def.type === 'array') (s = def.element), i++;
    else if (def.type === 'record') (s = def.valueType), i++;
    else return undefined;
  }
}

/** "unknown key", with the closest key the schema takes there, spelled as the user spells keys. */
function unknownKey(key: string, known: string[] | undefined): string {
  if (!known?.length) return UNKNOWN_KEY;
  // The config's two spellings (README): offer the one the user wrote in.
  const spelled = /[A-Z]/.test(key) ? known : known.map(snake);
  const match = closest(key, spelled);
  if (match !== undefined) return `unknown key; did you mean '${match}'? (or remove it)`;
  // Nothing close (kafka's `brokers` for `bootstrap_servers`): the keys it takes, when they are few.
  return spelled.length <= 12 ? `unknown key; remove it (the keys here: ${spelled.join(', ')})` : UNKNOWN_KEY;
}

/** Problems from a zod result, with paths rewritten as the user spelled them. */
function zodProblems(error: z.ZodError, raw: unknown, prefix: PropertyKey[], file?: string, schema?: z.ZodType): ConfigProblem[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = schema && keysAt(schema, issue.path);
      return issue.keys.map((key) => ({ file, path: describePath(raw, [...path, key]), message: unknownKey(key, known) }));
    }
    const message = issue.code === 'invalid_type' && /received undefined/.test(issue.message) ? 'is required' : issue.message;
    return [{ file, path: describePath(raw, path), message }];
  });
}

/**
 * Validates a raw config (already `${VAR}`-substituted) against the core schema and the schemas that
 * the registered technologies and health checks contribute. Every problem is collected; one
 * ConfigError lists them all, one line each.
 */
export function validateConfig(raw: unknown, ctx: ValidateContext): ResolvedConfig {
  const { file } = ctx;
  const problems: ConfigProblem[] = [];
  const top = topSchema.safeParse(raw ?? {});
  if (!top.success) {
    throw new ConfigError(zodProblems(top.error, raw, [], file, topSchema));
  }
  const defaults = top.data.defaults;

  // Services: a list (original format) or an object keyed by name (handy in TypeScript).
  const rawServices = top.data.services;
  let entries: { raw: unknown; path: PropertyKey[]; name?: string }[];
  if (Array.isArray(rawServices)) {
    entries = rawServices.map((s, i) => ({ raw: s, path: ['services', i] }));
  } else if (rawServices && typeof rawServices === 'object') {
    entries = Object.entries(rawServices).map(([name, s]) => ({ raw: s, path: ['services', name], name }));
  } else {
    throw new ConfigError([{ file, path: 'services', message: rawServices === undefined ? 'is required: list the services to forward' : 'must be a list of services' }]);
  }

  const services: ServiceDefinition[] = [];
  const origins: PropertyKey[][] = [];
  for (const entry of entries) {
    const rawName = entry.name ?? (entry.raw && typeof entry.raw === 'object' ? (entry.raw as Record<string, unknown>).name : undefined);
    validateEntry(entry, typeof rawName === 'string' ? ctx.tolerate?.get(rawName) : undefined);
  }
  /**
   * `templated`: the keys whose value holds a variable not set here. Their problems are the service's
   * unresolved state, not errors; when one of them fails the core schema, the rest of the service is
   * still checked without those keys, and the service is left out of `services`.
   */
  function validateEntry(entry: { raw: unknown; path: PropertyKey[]; name?: string }, templated?: readonly string[]): void {
    const input = entry.name && entry.raw && typeof entry.raw === 'object' && !('name' in entry.raw) ? { ...entry.raw, name: entry.name } : entry.raw;
    // This service's problems; those at a templated key are dropped at the end. An unknown key is a
    // misspelling whatever its value holds.
    const own: ConfigProblem[] = [];
    const tolerated = (p: ConfigProblem) => !p.message.startsWith('unknown key') && !!templated?.some((t) => p.path === t || p.path.startsWith(`${t}.`) || p.path.startsWith(`${t}[`));
    try {
      const s = parseService(input, entry.path, own, tolerated);
      if (!s) return;
      const def = checkService(s, entry.path, own);
      if (def && own.length === 0) {
        origins.push(entry.path);
        services.push(def);
      }
    } finally {
      problems.push(...own.filter((p) => !tolerated(p)));
    }
  }

  /**
   * The core schema's view of one service. When only templated keys fail it, the rest is parsed without
   * them (so their other problems are still found) and returned with those keys missing.
   */
  function parseService(input: unknown, at: PropertyKey[], own: ConfigProblem[], tolerated: (p: ConfigProblem) => boolean): LooseService | undefined {
    const parsed = serviceSchema.safeParse(input);
    if (parsed.success) return parsed.data;
    const found = zodProblems(parsed.error, raw, at, file, serviceSchema);
    own.push(...found);
    if (!found.every(tolerated) || !input || typeof input !== 'object') return undefined;
    const failed = new Set(parsed.error.issues.map((i) => String(i.path[0])));
    const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !failed.has(k) && !failed.has(camel(k))));
    const loose = looseServiceSchema.safeParse(rest);
    if (loose.success) return loose.data;
    own.push(...zodProblems(loose.error, raw, at, file));
    return undefined;
  }

  /** The technology's and health check's rules for one service; its definition when every part is there. */
  function checkService(s: LooseService, at: PropertyKey[], own: ConfigProblem[]): ServiceDefinition | undefined {
    const label = (...rest: PropertyKey[]) => describePath(raw, [...at, ...rest]);
    let connection: Record<string, unknown> = s.connection;
    let relay = s.relay;
    if (s.technology === undefined) {
      // Its value is a missing variable's: nothing to check it against.
    } else if (!ctx.technologies.has(s.technology)) {
      own.push({ file, path: label('technology'), message: ctx.technologies.unknownMessage(clip(s.technology)) });
    } else {
      const tech = ctx.technologies.get(s.technology);
      const c = tech.connectionSchema.safeParse(s.connection);
      if (c.success) connection = resolvePaths(c.data as Record<string, unknown>, tech.pathKeys, (key) => (s.name === undefined ? undefined : ctx.pathDirs?.get(s.name)?.get(key)) ?? (file === undefined ? undefined : path.dirname(file)));
      else own.push(...zodProblems(c.error, raw, [...at, 'connection'], file, tech.connectionSchema));
      // A technology that cannot listen where it is told binds the user's port itself.
      if (tech.relay === false) relay = false;
      if (tech.inProcess && !s.relay) own.push({ file, path: label('relay'), message: `technology ${s.technology} runs inside LocalPort and needs its listener; remove relay: false` });
    }
    // Lazy start and idle stop need LocalPort's own listener, to see the first connection.
    const why = !s.relay ? 'relay is false' : `technology ${s.technology} cannot be relayed (it binds the local port itself)`;
    if (!relay && s.start === 'lazy') own.push({ file, path: label('start'), message: `lazy needs LocalPort to own the local port, but ${why}; remove start: lazy or relay: false` });
    if (!relay && s.idleStop !== undefined) own.push({ file, path: label('idleStop'), message: `needs LocalPort to own the local port, but ${why}; remove idle_stop or relay: false` });

    const hcIn = { ...defaults.healthCheck, ...s.healthCheck };
    const hcType = hcIn.type ?? ctx.healthChecks.defaultType;
    if (hcType === undefined) {
      own.push({ file, path: label('healthCheck', 'type'), message: `is required: no default health check is set; registered: ${ctx.healthChecks.types().join(', ') || '(none)'}` });
      return undefined;
    }
    let hcConfig: Record<string, unknown> = { ...(defaults.healthCheck?.type === hcType ? defaults.healthCheck?.config : {}), ...s.healthCheck?.config };
    if (!ctx.healthChecks.has(hcType)) {
      own.push({ file, path: label('healthCheck', 'type'), message: ctx.healthChecks.unknownMessage(clip(hcType)) });
    } else {
      const c = ctx.healthChecks.get(hcType).configSchema.safeParse(hcConfig);
      if (c.success) hcConfig = c.data as Record<string, unknown>;
      else own.push(...zodProblems(c.error, raw, [...at, 'healthCheck', 'config'], file, ctx.healthChecks.get(hcType).configSchema));
    }
    if (s.name === undefined || s.technology === undefined || s.localPort === undefined || s.remotePort === undefined) return undefined;
    const healthCheck: HealthCheckSettings = {
      ...DEFAULT_HEALTH_CHECK,
      ...Object.fromEntries(Object.entries(hcIn).filter(([, v]) => v !== undefined)),
      type: hcType,
      config: hcConfig,
    };
    const restartPolicy: RestartPolicy = {
      ...DEFAULT_RESTART_POLICY,
      ...Object.fromEntries(Object.entries({ ...defaults.restartPolicy, ...s.restartPolicy }).filter(([, v]) => v !== undefined)),
    };
    return {
      name: s.name,
      technology: s.technology,
      localPort: s.localPort,
      remotePort: s.remotePort,
      connection,
      enabled: s.enabled,
      tags: s.tags,
      description: s.description,
      healthCheck,
      restartPolicy,
      source: ctx.sources?.get(s.name) ?? 'local',
      relay,
      start: s.start,
      ...(s.idleStop !== undefined ? { idleStop: s.idleStop } : {}),
      holdTimeout: s.holdTimeout,
      shareConnection: s.shareConnection,
    };
  }

  // Cross-service rules. Names are checked on the raw entries, so a duplicate is reported even when
  // one of the two has problems of its own.
  const seen = new Set<string>();
  for (const entry of entries) {
    const name = entry.name ?? (entry.raw && typeof entry.raw === 'object' ? (entry.raw as Record<string, unknown>).name : undefined);
    if (typeof name !== 'string') continue;
    if (seen.has(name)) problems.push({ file, path: describePath(raw, entry.path), message: `duplicate service name '${clip(name)}'; service names must be unique` });
    seen.add(name);
  }
  // Two enabled services on one port collide when their addresses overlap (a wildcard covers the rest).
  const byPort = new Map<number, { name: string; address: string }[]>();
  services.forEach((s, i) => {
    if (!s.enabled || !ctx.technologies.has(s.technology)) return;
    const onPort = byPort.get(s.localPort) ?? [];
    let other: { name: string; address: string } | undefined;
    let address = '';
    for (const host of listenHosts(ctx.technologies.get(s.technology), s)) {
      address = host;
      other = onPort.find((o) => bindsOverlap(o.address, host));
      if (other) break;
    }
    if (other !== undefined) {
      const where = other.address === address ? '' : ` (${other.address} and ${address} overlap)`;
      problems.push({
        file,
        path: describePath(raw, [...origins[i], 'localPort']),
        message: `local port ${s.localPort} is also used by service '${other.name}'${where}; give each service its own local port`,
      });
    } else byPort.set(s.localPort, [...onPort, ...listenHosts(ctx.technologies.get(s.technology), s).map((address) => ({ name: s.name, address }))]);
  });

  if (problems.length) throw new ConfigError(problems);
  return { file, version: top.data.version, services, ...(top.data.ui ? { ui: top.data.ui } : {}) };
}

/** The connection with its path keys resolved (`~`, and relative to the file that set each one). */
function resolvePaths(connection: Record<string, unknown>, keys: readonly string[] | undefined, dirOf: (key: string) => string | undefined): Record<string, unknown> {
  if (!keys?.length) return connection;
  const out = { ...connection };
  for (const key of keys) {
    const value = out[key];
    if (typeof value === 'string' && value !== '') out[key] = resolvePathValue(value, dirOf(key));
  }
  return out;
}

/** The top-level `plugins` entry of a raw config, if any (TypeScript/JavaScript configs only). */
export function rawPlugins(raw: unknown): unknown[] {
  const plugins = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).plugins : undefined;
  return Array.isArray(plugins) ? plugins : [];
}
