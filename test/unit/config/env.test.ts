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

  it('$${VAR} is a literal ${VAR}, as in docker compose; any other $ stays as written', () => {
    const out = substituteEnv(
      { a: '$${PW}', b: 'x-$${UNSET}-${PW}', c: 'pa$$word', d: '$HOME', e: '${UNSET:-$${LITERAL}}', f: '$$$${PW}' },
      { PW: 'hunter22' },
      new Redactor(),
    );
    expect(out).toEqual({ a: '${PW}', b: 'x-${UNSET}-hunter22', c: 'pa$$word', d: '$HOME', e: '${LITERAL}', f: '$$${PW}' });
  });

  it('leaves plugin objects alone', () => {
    const plugin = { name: '${NOT_TOUCHED}', apply() {} };
    const out = substituteEnv({ plugins: [plugin] }, {}, new Redactor()) as { plugins: unknown[] };
    expect(out.plugins[0]).toBe(plugin);
  });

  describe('nested defaults: ${A:${B}}', () => {
    const sub = (text: string, env: NodeJS.ProcessEnv, r = new Redactor()) => (substituteEnv({ services: [{ name: 'db', host: text }] }, env, r, 'f.yaml') as { services: { host: string }[] }).services[0].host;
    const problem = (text: string, env: NodeJS.ProcessEnv) => {
      try {
        sub(text, env);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('expected an error');
    };

    it('falls back as a shell does: A if set, else B if set, else the innermost default', () => {
      const r = new Redactor();
      expect(sub('${A:${B}}', { A: 'from-a', B: 'from-b' }, r)).toBe('from-a');
      expect(sub('${A:${B}}', { B: 'from-b' }, r)).toBe('from-b');
      expect(sub('x-${A:-${B:${C:last}}}-y', {}, r)).toBe('x-last-y');
      expect(sub('${A:${B:}}', {}, r)).toBe('');
      expect(r.isSecret('from-b')).toBe(true);
      expect(r.isSecret('last')).toBe(false);
    });

    it('names the innermost variable that is missing, and the key', () => {
      expect(problem('${A:${B}}', {})).toBe('f.yaml: services[0] (db).host: environment variable B is not set; set it, or give a default: ${B:default}');
    });

    it('refuses an unterminated nested default and a nesting too deep, in one line', () => {
      expect(problem('${A:${B}', {})).toMatch(/^f\.yaml: services\[0\] \(db\)\.host: unterminated \$\{…\}/);
      const deep = `${'${A:'.repeat(5000)}x${'}'.repeat(5000)}`;
      const message = problem(deep, {});
      expect(message).toMatch(/defaults nest more than 8 deep/);
      expect(message.split('\n')).toHaveLength(1);
    });
  });
});
