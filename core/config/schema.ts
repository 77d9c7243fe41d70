import { z } from 'zod';

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

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

const numeric = (v: unknown) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v);
const booleanish = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);

/** A TCP port, 1–65535; a numeric string (from `${VAR}`) is accepted. */
export const port = () =>
  z.preprocess(
    numeric,
    z
      .number({ error: (i) => (i.input === undefined ? 'is required' : `must be a port number (got ${JSON.stringify(i.input)})`) })
      .int('must be a whole number')
      .min(1, { error: (i) => `must be between 1 and 65535 (got ${String(i.input)})` })
      .max(65535, { error: (i) => `must be between 1 and 65535 (got ${String(i.input)})` }),
  );

/** Seconds, ≥ 0; fractions allowed. */
export const seconds = () => z.preprocess(numeric, z.number({ error: 'must be a number of seconds' }).min(0, 'must not be negative'));

export const count = () => z.preprocess(numeric, z.number({ error: 'must be a whole number' }).int('must be a whole number').min(0, 'must not be negative'));

export const bool = () => z.preprocess(booleanish, z.boolean({ error: 'must be true or false' }));

export const nonEmpty = (what = 'a non-empty string') => z.string({ error: (i) => (i.input === undefined ? 'is required' : `must be ${what}`) }).min(1, `must be ${what}`);

/** A host name or address that cannot be mistaken for a command-line flag. */
export const hostname = () =>
  nonEmpty('a host name').refine((v) => !v.startsWith('-') && !/[\s\0]/.test(v), 'must be a host name (no leading "-", no spaces)');
