import { z } from 'zod';
import { MAX_COUNT, MAX_SECONDS, parseDuration } from './limits.js';
import { camel } from './keys.js';

export { MAX_COUNT, MAX_NAME_LENGTH, MAX_SECONDS } from './limits.js';
export { camel, snake } from './keys.js';

/**
 * Renames the snake_case keys of `input` whose camelCase form is a key of the schema, so the
 * original LocalPort format (`local_port`) and TypeScript configs (`localPort`) validate alike.
 * Only known keys are renamed: free-form maps (environment variables, ssh options) keep theirs.
 */
function renameSnakeKeys(input: unknown, known: ReadonlySet<string>): unknown {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return input;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const renamed = known.has(key) ? key : known.has(camel(key)) && !(camel(key) in input) ? camel(key) : key;
    out[renamed] = value;
  }
  return out;
}

/**
 * A strict object schema that accepts both snake_case and camelCase keys and rejects unknown ones
 * (a misspelt key is an error, not a silently ignored setting). Technologies and health checks
 * build their `connection` / `config` schemas with it.
 */
export function configObject<S extends z.ZodRawShape>(shape: S) {
  const known = new Set(Object.keys(shape));
  return z.preprocess((input) => renameSnakeKeys(input, known), z.strictObject(shape));
}

/**
 * A number written as a string (from `${VAR}`): decimal, exponent forms included, so `1e300` meets the
 * range check rather than a type error; anything else ("", "0x10") stays a string and is refused.
 */
export const numeric = (v: unknown) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/.test(v) ? Number(v) : v);
const booleanish = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);
const shown = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

/** A TCP port, 1–65535; a numeric string (from `${VAR}`) is accepted. */
export const port = () =>
  z.preprocess(
    numeric,
    z
      .number({ error: (i) => (i.input === undefined ? 'is required' : `must be a port number (got ${shown(i.input)})`) })
      .int('must be a whole number')
      .min(1, { error: (i) => `must be between 1 and 65535 (got ${String(i.input)})` })
      .max(65535, { error: (i) => `must be between 1 and 65535 (got ${String(i.input)})` }),
  );

const secondsMessage = `must be a number of seconds from 0 to ${MAX_SECONDS} (about 24.8 days, the longest a timer can wait)`;

/** Seconds, 0 to MAX_SECONDS; fractions allowed. Infinity, NaN and `1e300` are refused with the limit. */
export const seconds = () =>
  z.preprocess(
    (v) => {
      const n = numeric(v);
      return typeof n === 'string' ? (parseDuration(n) ?? n) : n;
    },
    z
      .number({ error: (i) => (typeof i.input === 'number' ? `${secondsMessage} (got ${shown(i.input)})` : 'must be a number of seconds, or a duration such as 500ms, 30s or 2m') })
      .min(0, 'must not be negative')
      .max(MAX_SECONDS, { error: (i) => `${secondsMessage} (got ${shown(i.input)})` }),
  );

/** A whole number, 0 to MAX_COUNT (or `max`). */
export const count = (max = MAX_COUNT) =>
  z.preprocess(
    numeric,
    z
      .number({ error: (i) => (typeof i.input === 'number' ? `must be a whole number from 0 to ${max} (got ${shown(i.input)})` : 'must be a whole number') })
      // `abort`: 1e300 is out of range, and saying it is also not a safe integer adds nothing.
      .min(0, { error: 'must not be negative', abort: true })
      .max(max, { error: (i) => `must be a whole number from 0 to ${max} (got ${shown(i.input)})`, abort: true })
      .int('must be a whole number'),
  );

export const bool = () => z.preprocess(booleanish, z.boolean({ error: 'must be true or false' }));

export const nonEmpty = (what = 'a non-empty string') => z.string({ error: (i) => (i.input === undefined ? 'is required' : `must be ${what}`) }).min(1, `must be ${what}`);

/**
 * Whether a string holds a control character (C0, DEL or C1: an escape, a newline, a bell). A host, a
 * user, a context or a tag never does; one that did would reach ssh's argv and the user's terminal.
 */
export const hasControl = (v: string) => /[\x00-\x1f\x7f-\x9f]/.test(v);
export const CONTROL_MESSAGE = 'must not contain control characters (an escape, a newline, a tab)';

/** A host name or address that cannot be mistaken for a command-line flag. */
export const hostname = () =>
  nonEmpty('a host name')
    .refine((v) => !hasControl(v), { error: CONTROL_MESSAGE, abort: true })
    .refine((v) => !v.startsWith('-') && !/\s/.test(v), 'must be a host name (no leading "-", no spaces)');
