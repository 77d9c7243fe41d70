import { ConfigError, type ConfigProblem } from '../errors.js';
import type { Redactor } from '../redact.js';
import { describePath } from './keys.js';
import { isPlainObject } from './guard.js';

/** How deep `${A:${B:${C}}}` may nest: enough for a chain of fallbacks, and no recursion to exhaust. */
const MAX_NESTING = 8;

type Ref = { name: string; fallback?: string; end: number };

/**
 * The `${NAME}`, `${NAME:default}` or `${NAME:-default}` that starts at `start`, where the default may
 * itself hold `${…}` (closed by the `}` that balances it). Undefined when the text there is not a
 * reference (it stays as written); 'unterminated' when a default opens `${` and is never closed.
 */
function parseRef(text: string, start: number): Ref | 'unterminated' | undefined {
  const head = /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-?)?/y;
  head.lastIndex = start;
  const m = head.exec(text);
  if (!m) return undefined;
  let i = start + m[0].length;
  if (!m[2]) return text[i] === '}' ? { name: m[1], end: i + 1 } : undefined;
  let depth = 0;
  let nested = false;
  for (const from = i; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      nested = true;
      i++;
    } else if (text[i] === '}') {
      if (depth === 0) return { name: m[1], fallback: text.slice(from, i), end: i + 1 };
      depth--;
    }
  }
  return nested ? 'unterminated' : undefined;
}

/**
 * Replaces `${VAR}`, `${VAR:default}` and `${VAR:-default}` in every string of `raw` (plain objects
 * and arrays only: plugin objects are left alone); `$${` is a literal `${`. A default may name another variable, as in a shell:
 * `${A:${B:x}}` is A if set, else B if set, else x. Values taken from the environment are secrets and
 * go to the redactor; a default is written in the file, so it is not. A missing variable without a
 * default is an error naming the variable and the key (and so the service) that uses it.
 */
export interface SubstituteOptions {
  /**
   * Where a variable that is not set is no error yet (a service this command does not start): the
   * reference stays as written, and `missing` hears of it. Other problems are errors everywhere.
   */
  lenient?(path: readonly (string | number)[]): boolean;
  missing?(path: readonly (string | number)[], problem: ConfigProblem, variable: string): void;
  /**
   * Hears of every value taken from the environment, where it went, and whether the redactor knew it
   * as a secret before (resolveConfig releases those that only went into number fields).
   */
  substituted?(path: readonly (string | number)[], value: string, known: boolean): void;
  /** Hears of every string that held a `${…}` reference, as written (`config export` writes it back). */
  template?(path: readonly (string | number)[], text: string): void;
}

export function substituteEnv(raw: unknown, env: NodeJS.ProcessEnv, redactor: Redactor, file?: string, opts: SubstituteOptions = {}): unknown {
  const problems: ConfigProblem[] = [];

  const expand = (text: string, path: (string | number)[], depth: number): string => {
    const problem = (message: string) => problems.push({ file, path: describePath(raw, path), message });
    let out = '';
    let i = 0;
    while (i < text.length) {
      const j = text.indexOf('${', i);
      if (j < 0) {
        out += text.slice(i);
        break;
      }
      // `$${VAR}` is a literal `${VAR}`, as in docker compose (the only escape: any other `$` stays as written).
      if (j > i && text[j - 1] === '$') {
        out += `${text.slice(i, j - 1)}\${`;
        i = j + 2;
        continue;
      }
      out += text.slice(i, j);
      const ref = parseRef(text, j);
      if (ref === undefined) {
        out += '${';
        i = j + 2;
        continue;
      }
      if (ref === 'unterminated') {
        problem(`unterminated \${…}: a default that holds \${ needs a closing } for each; write \${A:\${B}}`);
        return out + text.slice(j);
      }
      i = ref.end;
      const fromEnv = env[ref.name];
      if (fromEnv !== undefined && fromEnv !== '') {
        opts.substituted?.(path, fromEnv, redactor.isSecret(fromEnv));
        redactor.add(fromEnv);
        out += fromEnv;
      } else if (ref.fallback !== undefined) {
        if (depth >= MAX_NESTING) {
          problem(`\${…} defaults nest more than ${MAX_NESTING} deep; use fewer fallbacks`);
          return out + text.slice(j);
        }
        out += expand(ref.fallback, path, depth + 1);
      } else {
        const message = `environment variable ${ref.name} is not set; set it, or give a default: \${${ref.name}:default}`;
        if (opts.lenient?.(path)) opts.missing?.(path, { file, path: describePath(raw, path), message }, ref.name);
        else problem(message);
        out += text.slice(j, ref.end);
      }
    }
    return out;
  };

  // A node reached twice (a YAML alias, an object used in two places) is substituted once and
  // shared in the result as in the input: copying it per reference grows exponentially with nested
  // aliases. Registered before its children are walked, so a cycle ends too.
  const done = new Map<object, unknown>();
  const walk = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value;
      const out = expand(value, path, 0);
      if (out !== value) opts.template?.(path, value);
      return out;
    }
    if (value && typeof value === 'object' && done.has(value)) return done.get(value);
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      done.set(value, out);
      value.forEach((v, i) => (out[i] = walk(v, [...path, i])));
      return out;
    }
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      done.set(value, out);
      for (const [k, v] of Object.entries(value)) out[k] = path.length === 0 && k === 'plugins' ? v : walk(v, [...path, k]);
      return out;
    }
    return value;
  };

  const result = walk(raw, []);
  if (problems.length) throw new ConfigError(problems);
  return result;
}
