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

  it('redacts data deeply, numbers included, without changing the input', () => {
    const input = { a: ['s3cr3t"pw', 1], port: 5432, nested: { s: 'x 5432 y', ok: 'ab' } };
    expect(r.data(input)).toEqual({ a: ['***', 1], port: '***', nested: { s: 'x *** y', ok: '***' } });
    expect(input.port).toBe(5432);
  });
});
