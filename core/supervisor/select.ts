import { ConfigError, UsageError } from '../errors.js';
import { closest, didYouMean, someOf } from '../suggest.js';
import type { ResolvedConfig, ServiceDefinition, UnresolvedService } from '../types.js';

/**
 * Which services a command means, by name, tag or all. Apart from the supervisor, so that commands that
 * only select (status, logs, validate) do not load what runs services.
 */

export interface Selection {
  names?: string[];
  tags?: string[];
  all?: boolean;
}

/** `; did you mean 'db'?` for one unknown name, `; did you mean 'db' for 'dbb', 'api' for 'apii'?` for several. */
function suggestions(unknown: string[], known: string[]): string {
  if (unknown.length === 1) return didYouMean(unknown[0], known);
  const pairs = unknown.slice(0, 5).flatMap((n) => {
    const match = closest(n, known);
    return match === undefined ? [] : [`'${match}' for '${n}'`];
  });
  return pairs.length ? `; did you mean ${pairs.join(', ')}?` : '';
}

/** Whether `sel` means the unresolved service `u`: by name, or (enabled) by tag or as one of all. */
export function selects(sel: Selection, u: UnresolvedService): boolean {
  const everything = sel.all || (!sel.names?.length && !sel.tags?.length);
  return !!sel.names?.includes(u.name) || (u.enabled && (everything || u.tags.some((t) => sel.tags?.includes(t))));
}

/**
 * Which services a command means. Names must exist (an unknown one is a usage error listing the known
 * ones); tags pick every enabled service carrying any of them; no selector, or `all`, picks every
 * enabled service. A disabled service runs only when named.
 */
export function selectServices(config: ResolvedConfig, sel: Selection, opts: { toStart?: boolean; hint?: string } = {}): ServiceDefinition[] {
  const byName = new Map(config.services.map((s) => [s.name, s]));
  const unresolved = config.unresolved ?? [];
  const picked = new Map<string, ServiceDefinition>();
  const unknown = (sel.names ?? []).filter((n) => !byName.has(n) && !unresolved.some((u) => u.name === n));
  if (opts.toStart) {
    // Only what is started must resolve: the variables of the services picked here, not of the others.
    const blocked = unresolved.filter((u) => selects(sel, u));
    if (blocked.length && !unknown.length) {
      throw new ConfigError(
        blocked.flatMap((u) => u.problems),
        opts.hint ?? 'Set the variables in the environment of this command, or start only services that do not need them.',
      );
    }
  }
  if (unknown.length) {
    const names = [...config.services.map((s) => s.name), ...unresolved.filter((u) => !byName.has(u.name)).map((u) => u.name)];
    // Bounded both ways: a few of the names typed, and of the configured ones those closest to them.
    const typed = someOf(unknown.map((n) => `'${n}'`), [], 5);
    throw new UsageError(
      `unknown service${unknown.length > 1 ? 's' : ''} ${typed}${config.file ? ` in ${config.file}` : ''}; configured: ${someOf(names, unknown) || '(none)'}${suggestions(unknown, names)}`,
      names.length > 10 ? 'localport status lists every service.' : undefined,
    );
  }
  for (const n of sel.names ?? []) if (byName.has(n)) picked.set(n, byName.get(n)!);
  if (sel.tags?.length) {
    const matched = config.services.filter((s) => s.enabled && s.tags.some((t) => sel.tags!.includes(t)));
    // An unresolved service's tag is a tag in use: `stop -t` reaches it where a reload kept it running.
    if (matched.length === 0 && !unresolved.some((u) => u.enabled && u.tags.some((t) => sel.tags!.includes(t)))) {
      const tags = [...new Set([...config.services, ...unresolved].flatMap((s) => s.tags))];
      const misspelt = sel.tags.filter((t) => !tags.includes(t));
      throw new UsageError(`no enabled service has tag ${sel.tags.slice(0, 5).map((t) => `'${t}'`).join(' or ')}${sel.tags.length > 5 ? ` (or ${sel.tags.length - 5} more)` : ''}; tags in use: ${someOf(tags, misspelt) || '(none)'}${suggestions(misspelt, tags)}`);
    }
    matched.forEach((s) => picked.set(s.name, s));
  }
  if (sel.all || (!sel.names?.length && !sel.tags?.length)) {
    config.services.filter((s) => s.enabled).forEach((s) => picked.set(s.name, s));
  }
  // An unresolved service that validated anyway (its placeholder in a string) still cannot start.
  if (opts.toStart) for (const u of unresolved) picked.delete(u.name);
  return [...picked.values()];
}
