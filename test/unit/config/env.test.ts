import { describe, expect, it } from '@jest/globals';
import { substituteEnv } from '../../../core/config/env.js';
import { ConfigError } from '../../../core/errors.js';
import { Redactor } from '../../../core/redact.js';

describe('${VAR} substitution', () => {
  it('substitutes ${VAR}, ${VAR:default} and ${VAR:-default}, and records environment values as secrets', () => {
    const r = new Redactor();
    const out = substituteEnv(
      { a: '${PW}', b: 'x-${UNSET:fallback}-y', c: '${UNSET:-other}', d: ['${PW}'], e: 5, f: '${EMPTY:-dflt}' },
      { PW: 'hunter22', EMPTY: '' },
      r,
    );
    expect(out).toEqual({ a: 'hunter22', b: 'x-fallback-y', c: 'other', d: ['hunter22'], e: 5, f: 'dflt' });
    expect(r.isSecret('hunter22')).toBe(true);
    // A default is written in the file; it is not a secret.
    expect(r.isSecret('fallback')).toBe(false);
  });

  it('names the variable and the service when a variable is missing', () => {
    const raw = { services: [{ name: 'db', health_check: { config: { password: '${DB_PASSWORD}' } } }] };
    let error: unknown;
    try {
      substituteEnv(raw, {}, new Redactor(), '/x/localport.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const msg = (error as Error).message;
    expect(msg).toContain('DB_PASSWORD');
    expect(msg).toContain('services[0] (db).health_check.config.password');
    expect(msg).toContain('/x/localport.yaml');
    expect((error as ConfigError).exitCode).toBe(2);
  });

  it('leaves plugin objects alone', () => {
    const plugin = { name: '${NOT_TOUCHED}', apply() {} };
    const out = substituteEnv({ plugins: [plugin] }, {}, new Redactor()) as { plugins: unknown[] };
    expect(out.plugins[0]).toBe(plugin);
  });
});
