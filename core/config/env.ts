import { ConfigError, type ConfigProblem } from '../errors.js';
import type { Redactor } from '../redact.js';
import { describePath } from './paths.js';

const PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-?([^}]*))?\}/g;

/**
 * Replaces `${VAR}`, `${VAR:default}` and `${VAR:-default}` in every string of `raw` (plain objects
 * and arrays only: plugin objects are left alone). Values taken from the environment are secrets and
 * go to the redactor; a default is written in the file, so it is not. A missing variable without a
 * default is an error naming the variable and the key (and so the service) that uses it.
 */
export function substituteEnv(raw: unknown, env: NodeJS.ProcessEnv, redactor: Redactor, file?: string): unknown {
  const problems: ConfigProblem[] = [];

  // A node reached twice (a YAML alias, an object used in two places) is substituted once and
  // shared in the result as in the input: copying it per reference grows exponentially with nested
  // aliases. Registered before its children are walked, so a cycle ends too.
  const done = new Map<object, unknown>();
  const walk = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value === 'string') {
      return value.replace(PATTERN, (whole, name: string, fallback: string | undefined) => {
        const fromEnv = env[name];
        if (fromEnv !== undefined && fromEnv !== '') {
          redactor.add(fromEnv);
          return fromEnv;
        }
        if (fallback !== undefined) return fallback;
        problems.push({
          file,
          path: describePath(raw, path),
          message: `environment variable ${name} is not set; set it, or give a default: \${${name}:default}`,
        });
        return whole;
      });
    }
    if (value && typeof value === 'object' && done.has(value)) return done.get(value);
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      done.set(value, out);
      value.forEach((v, i) => (out[i] = walk(v, [...path, i])));
      return out;
    }
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
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
