import { describe, expect, it } from '@jest/globals';
import { Redactor } from '../../core/redact.js';

describe('Redactor', () => {
  const r = new Redactor();
  r.add('s3cr3t"pw');
  r.add('5432');
  r.add('ab');

  it('redacts secrets in text, including their JSON-escaped form', () => {
    expect(r.text('password=s3cr3t"pw port 5432')).toBe('password=*** port ***');
    expect(r.text(JSON.stringify({ pw: 's3cr3t"pw' }))).toBe('{"pw":"***"}');
  });

  // A program that logs the URL it requests writes the secret percent-encoded: `@` as %40, a space as %20 or +.
  it('redacts secrets percent-encoded in URLs and forms, with either case of hex', () => {
    const r = new Redactor();
    r.add('p@ss:w0rd!');
    r.add('s3cr3t pass/wörd#%');
    r.add('k/y');
    expect(r.text('connecting to postgres://app:p%40ss%3Aw0rd!@db/app')).toBe('connecting to postgres://app:***@db/app');
    expect(r.text(`GET /x?k=${encodeURIComponent('s3cr3t pass/wörd#%')} 401`)).toBe('GET /x?k=*** 401');
    expect(r.text('POST body k=s3cr3t+pass%2Fw%C3%B6rd%23%25')).toBe('POST body k=***');
    expect(r.text('GET /x?k=s3cr3t%20pass%2fw%c3%b6rd%23%25')).toBe('GET /x?k=***');
    expect(r.text('GET /s3cr3t%20pass/w%C3%B6rd#%25')).toBe('GET /***');
    expect(r.text('key=k%2Fy, not k%2Fyz')).toBe('key=***, not k%2Fyz');
    // No URL form (encodeURIComponent throws): still redacted as written.
    r.add('lone \ud800 surrogate');
    expect(r.text('x lone \ud800 surrogate y')).toBe('x *** y');
  });

  it('redacts the end of a cut line that is the start of a secret', () => {
    const r = new Redactor();
    r.add('hunter22');
    expect(r.cutText('xxhunt')).toBe('xx***');
    expect(r.cutText('a hunter22 b hu')).toBe('a *** b ***');
    expect(r.cutText('nothing here')).toBe('nothing here');
  });

  it('leaves very short values in free text alone', () => {
    expect(r.text('table cab')).toBe('table cab');
  });

  // A number is never a secret: before, `port: 5432` became '***' when a string secret was '5432'.
  it('redacts data deeply, strings only: numbers and booleans stay, whatever secret they equal', () => {
    const input = { a: ['s3cr3t"pw', 1], port: 5432, on: true, nested: { s: 'x 5432 y', ok: 'ab', pin: '5432' } };
    expect(r.data(input)).toEqual({ a: ['***', 1], port: 5432, on: true, nested: { s: 'x *** y', ok: '***', pin: '***' } });
    expect(input.port).toBe(5432);
    const t = new Redactor();
    t.add('true');
    expect(t.data({ enabled: true, s: 'true' })).toEqual({ enabled: true, s: '***' });
  });
});

describe('Redactor: short secrets and released values', () => {
  it('replaces a secret under 8 characters only where no letter or digit touches it', () => {
    const r = new Redactor();
    r.add('dev');
    r.add('4711');
    expect(r.text('login dev: refused; user=dev@db')).toBe('login ***: refused; user=***@db');
    expect(r.text('device developer 47110 14711 pid 4711.')).toBe('device developer 47110 14711 pid ***.');
    expect(r.text(JSON.stringify({ msg: 'password "dev" refused' }))).toBe('{"msg":"password \\"***\\" refused"}');
    // In structured output a string equal to it is replaced whatever its length.
    expect(r.data({ user: 'dev', note: 'developer' })).toEqual({ user: '***', note: 'developer' });
  });

  it('replaces a secret of 8 characters or more anywhere, inside words too', () => {
    const r = new Redactor();
    r.add('hunter22');
    expect(r.text('xhunter22y and hunter22')).toBe('x***y and ***');
  });

  it('a cut line ends in part of a short secret only where a word starts', () => {
    const r = new Redactor();
    r.add('s3cret');
    expect(r.cutText('password s3c')).toBe('password ***');
    expect(r.cutText('tests3c')).toBe('tests3c');
  });

  it('forgets a released value', () => {
    const r = new Redactor();
    r.add('22211');
    r.release('22211');
    expect(r.isSecret('22211')).toBe(false);
    expect(r.text('port 22211')).toBe('port 22211');
  });
});
