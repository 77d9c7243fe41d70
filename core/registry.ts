import { LocalPortError } from './errors.js';
import { didYouMean } from './suggest.js';

/**
 * A map from a type string (`ssh`, `postgres`, `table`) to what a plugin registered under it.
 * Registering a type twice is an error; so is asking for a type nobody registered.
 */
export class Registry<T> {
  readonly #entries = new Map<string, { value: T; plugin: string }>();

  /**
   * The type a config gets where it names none. Set by whoever composes the plugins (the app's
   * composition root), not by a plugin: two plugins claiming it would need a rule to pick one, and
   * installing a plugin would silently change every service that relies on the default.
   */
  defaultType: string | undefined;

  constructor(readonly kind: string) {}

  register(type: string, value: T, plugin: string): void {
    const existing = this.#entries.get(type);
    if (existing) {
      throw new LocalPortError(
        'REGISTRY_DUPLICATE',
        `${this.kind} '${type}' is registered twice: by plugin ${existing.plugin} and by plugin ${plugin}`,
        { hint: `Remove one of the two plugins from your config, or give the ${this.kind} another type name.` },
      );
    }
    this.#entries.set(type, { value, plugin });
  }

  has(type: string): boolean {
    return this.#entries.has(type);
  }

  get(type: string): T {
    const entry = this.#entries.get(type);
    if (!entry) throw new LocalPortError('REGISTRY_UNKNOWN', this.unknownMessage(type));
    return entry.value;
  }

  /** `unknown technology 'kubctl'; registered: kubectl, ssh; did you mean 'kubectl'?` */
  unknownMessage(type: string): string {
    const known = this.types();
    return `unknown ${this.kind} '${type}'; registered: ${known.length ? known.join(', ') : '(none)'}${didYouMean(type, known)}`;
  }

  pluginOf(type: string): string | undefined {
    return this.#entries.get(type)?.plugin;
  }

  types(): string[] {
    return [...this.#entries.keys()].sort();
  }

  values(): T[] {
    return [...this.#entries.values()].map((e) => e.value);
  }
}
