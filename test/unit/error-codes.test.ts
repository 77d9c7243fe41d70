import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, ERROR_CODES, LocalPortError, PluginError, ServiceError, UsageError, isUserError } from '../../core/errors.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The rows between the README's error-codes markers: code, exit code, meaning. */
function readmeTable(): { code: string; exit: number; meaning: string }[] {
  const block = README.slice(README.indexOf('<!-- error-codes:start -->'), README.indexOf('<!-- error-codes:end -->'));
  return block
    .split('\n')
    .filter((l) => /^\| `/.test(l))
    .map((l) => {
      const [code, exit, meaning] = l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
      return { code: code.replace(/`/g, ''), exit: Number(exit), meaning: meaning.replace(/\\\|/g, '|') };
    });
}

describe('ERROR_CODES', () => {
  it('is the table in the README, row for row: code, exit code and meaning', () => {
    const fromCode = Object.entries(ERROR_CODES).map(([code, v]) => ({ code, exit: v.exit, meaning: v.meaning }));
    expect(readmeTable()).toEqual(fromCode);
  });

  it('gives every error its exit code from the table, not from the call site', () => {
    expect(new UsageError('x').exitCode).toBe(2);
    expect(new ConfigError([{ path: 'a', message: 'b' }]).exitCode).toBe(2);
    // What a plugin author writes first, in a config jiti does not type-check: a message, or one problem.
    expect(new ConfigError('acme needs a team tag' as never)).toMatchObject({ message: 'acme needs a team tag', code: 'CONFIG_INVALID' });
    expect(new ConfigError({ path: 'services[0].tags', message: 'needs a team tag' } as never).message).toBe('services[0].tags: needs a team tag');
    expect(new ServiceError('PORT_IN_USE', 'db', 'x').exitCode).toBe(1);
    expect(new LocalPortError('DAEMON_NOT_RUNNING', 'x').exitCode).toBe(1);
    for (const [code, { exit }] of Object.entries(ERROR_CODES)) expect(new LocalPortError(code as keyof typeof ERROR_CODES, 'x').exitCode).toBe(exit);
  });

  it('tells a plugin that rejects the config from a plugin with a bug', () => {
    const rejected = new PluginError('acme', 'configResolved', new ConfigError([{ path: 'services', message: 'no' }], 'fix it'));
    expect({ code: rejected.code, exit: rejected.exitCode, bug: rejected.bug, user: isUserError(rejected), hint: rejected.hint }).toEqual({ code: 'CONFIG_INVALID', exit: 2, bug: false, user: true, hint: 'fix it' });
    const bug = new PluginError('acme', 'configResolved', new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect({ code: bug.code, exit: bug.exitCode, bug: bug.bug, user: isUserError(bug) }).toEqual({ code: 'PLUGIN_FAILED', exit: 1, bug: true, user: false });
    // An Error thrown on purpose (a veto) is the plugin's message, not its bug: one line, no stack.
    const veto = new PluginError('acme', 'beforeStart', new Error('no change ticket for b'));
    expect({ code: veto.code, exit: veto.exitCode, bug: veto.bug, user: isUserError(veto) }).toEqual({ code: 'PLUGIN_FAILED', exit: 1, bug: false, user: true });
    for (const e of [new ReferenceError('x is not defined'), new RangeError('Invalid array length')]) expect(new PluginError('acme', 'apply', e).bug).toBe(true);
  });
});
