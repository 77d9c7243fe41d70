import { LocalPortError, PluginError } from './errors.js';
import { createHooks, tapSide, wrapPluginErrors, type Hooks, type TapHooks } from './hooks.js';
import { Redactor } from './redact.js';
import { Registry } from './registry.js';
import type { Formatter, HealthCheck, LocalPortPlugin, Logger, PluginApi, PluginInput, Technology } from './types.js';

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Flattens nested plugin lists and drops `false`/`null`/`undefined`, as presets compose them. */
export function flattenPlugins(input: readonly unknown[]): LocalPortPlugin[] {
  const out: LocalPortPlugin[] = [];
  const visit = (p: unknown) => {
    if (Array.isArray(p)) p.forEach(visit);
    else if (p === false || p == null) return;
    else if (typeof p === 'object' && typeof (p as LocalPortPlugin).name === 'string' && typeof (p as LocalPortPlugin).apply === 'function') out.push(p as LocalPortPlugin);
    else {
      throw new LocalPortError('PLUGIN_INVALID', `a plugin entry is not a plugin (got ${typeof p === 'object' ? JSON.stringify(p) : String(p)})`, {
        hint: 'A plugin is an object with `name` and `apply(api)`; call the plugin factory, e.g. `sshPlugin()`, not `sshPlugin`.',
      });
    }
  };
  input.forEach(visit);
  return out;
}

const isThenable = (x: unknown): x is PromiseLike<unknown> => typeof (x as { then?: unknown } | null)?.then === 'function';

/**
 * `value` with the functions named in `keys` wrapped as hooks' taps are: what one throws (or rejects
 * with) by a bug, a TypeError in `createForward`, becomes a PluginError naming the plugin, so that it
 * is reported as the plugin's bug and not as the user's mistake. A LocalPortError passes unchanged: it
 * is the plugin's verdict on the config or the far end (a ConfigError, a ServiceFailure).
 */
function guarded<T extends object>(value: T, plugin: string, what: string, keys: readonly (keyof T)[]): T {
  const wrappers = new Map<PropertyKey, unknown>();
  return new Proxy(value, {
    get(target, key, receiver) {
      const fn = Reflect.get(target, key, receiver) as unknown;
      if (typeof fn !== 'function' || !keys.includes(key as keyof T)) return fn;
      if (!wrappers.has(key)) {
        const wrap = (e: unknown) => (e instanceof LocalPortError ? e : new PluginError(plugin, `${what} ${String(key)}()`, e));
        wrappers.set(key, (...args: unknown[]) => {
          let result: unknown;
          try {
            result = (fn as (...a: unknown[]) => unknown).apply(target, args);
          } catch (e) {
            throw wrap(e);
          }
          return isThenable(result)
            ? Promise.resolve(result).catch((e: unknown) => {
                throw wrap(e);
              })
            : result;
        });
      }
      return wrappers.get(key);
    },
  });
}

/**
 * What a plugin registers must have what core will call, checked when it registers: a missing schema
 * would otherwise surface later as a TypeError inside LocalPort, reported as LocalPort's bug.
 */
function checkShape(plugin: string, kind: string, value: unknown, needs: Record<string, 'function' | 'schema'>): void {
  const v = value as Record<string, unknown> | null | undefined;
  const problems: string[] = [];
  if (!v || typeof v !== 'object') problems.push(`it registered ${v === null ? 'null' : typeof v} instead of an object`);
  else {
    if (typeof v.type !== 'string' || v.type === '') problems.push('`type` must be a non-empty string');
    for (const [key, what] of Object.entries(needs)) {
      const ok = what === 'function' ? typeof v[key] === 'function' : typeof (v[key] as { safeParse?: unknown } | undefined)?.safeParse === 'function';
      if (!ok) problems.push(`\`${key}\` must be ${what === 'function' ? 'a function' : 'a zod schema (z from localport)'}`);
    }
  }
  if (problems.length) throw new PluginError(plugin, 'apply', new LocalPortError('PLUGIN_CONTRACT', `the ${kind}${typeof v?.type === 'string' ? ` '${v.type}'` : ''} it registers is incomplete: ${problems.join('; ')}`));
}

/**
 * The hub: hooks, registries and the plugins that fill them. Core fires the hooks; plugins see
 * only their tap side through the PluginApi.
 */
export class LocalPort {
  readonly hooks: Hooks = createHooks();
  readonly technologies = new Registry<Technology>('technology');
  readonly healthChecks = new Registry<HealthCheck>('health check');
  readonly formatters = new Registry<Formatter>('formatter');
  readonly redactor: Redactor;
  readonly logger: Logger;
  readonly #plugins = new Map<string, LocalPortPlugin>();
  readonly #tapHooks: TapHooks;

  constructor(opts: { redactor?: Redactor; logger?: Logger } = {}) {
    this.redactor = opts.redactor ?? new Redactor();
    this.logger = opts.logger ?? silentLogger;
    wrapPluginErrors(this.hooks, (error, args) => this.#tapFailed(error, args));
    this.#tapHooks = tapSide(this.hooks);
  }

  /** An observer tap failed where nobody can catch it: log it against the service it concerned. */
  #tapFailed(error: PluginError, args: unknown[]): void {
    const first = args[0] as { name?: unknown; service?: { name?: unknown } } | undefined;
    const service = typeof first?.service?.name === 'string' ? first.service.name : typeof first?.name === 'string' ? first.name : undefined;
    try {
      this.logger.error({ service, plugin: error.plugin, hook: error.hook, err: error.message }, service ? `service ${service}: ${error.message}` : error.message);
    } catch {
      /* a failing logger must not turn an observer's error into a crash */
    }
  }

  get plugins(): string[] {
    return [...this.#plugins.keys()];
  }

  /** Applies plugins in order. The same plugin object twice is applied once; two different plugins with one name are an error. */
  async use(input: PluginInput | readonly unknown[]): Promise<void> {
    for (const plugin of flattenPlugins(Array.isArray(input) ? input : [input])) {
      const existing = this.#plugins.get(plugin.name);
      if (existing === plugin) continue;
      if (existing) {
        // The same plugin with the same options: a harmless repeat (two presets both list it).
        if (JSON.stringify(existing.options ?? null) === JSON.stringify(plugin.options ?? null)) continue;
        throw new LocalPortError('PLUGIN_DUPLICATE', `plugin '${plugin.name}' is listed twice with different options`, {
          hint: 'Remove one of them from `plugins` (or from the presets you extend).',
        });
      }
      this.#plugins.set(plugin.name, plugin);
      try {
        await plugin.apply(this.#api(plugin.name));
      } catch (error) {
        if (error instanceof LocalPortError) throw error;
        throw new PluginError(plugin.name, 'apply', error);
      }
    }
  }

  #api(pluginName: string): PluginApi {
    return {
      hooks: this.#tapHooks,
      logger: this.logger,
      // createForward only: the supervisor isolates the others (describeTarget, explainExit) and logs
      // their failures against the service, and doctor reports its own as a failed check.
      registerTechnology: (t) => {
        checkShape(pluginName, 'technology', t, { connectionSchema: 'schema', createForward: 'function', describeTarget: 'function' });
        this.technologies.register(t.type, guarded(t as Technology, pluginName, `technology '${t.type}'`, ['createForward']), pluginName);
      },
      registerHealthCheck: (h) => {
        checkShape(pluginName, 'health check', h, { configSchema: 'schema', check: 'function' });
        this.healthChecks.register(h.type, h as HealthCheck, pluginName);
      },
      registerFormatter: (f) => {
        checkShape(pluginName, 'formatter', f, { render: 'function' });
        this.formatters.register(f.type, f, pluginName);
      },
    };
  }
}
