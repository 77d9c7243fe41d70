import { describe, expect, it } from '@jest/globals';
import { closest, didYouMean, editDistance, someOf } from '../../core/suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as one edit each', () => {
    expect(editDistance('kubectl', 'kubectl')).toBe(0);
    expect(editDistance('kubctl', 'kubectl')).toBe(1);
    expect(editDistance('kubectll', 'kubectl')).toBe(1);
    expect(editDistance('kubertl', 'kubectl')).toBe(1);
    expect(editDistance('stauts', 'status')).toBe(1);
    expect(editDistance('', 'ssh')).toBe(3);
    expect(editDistance('abc', 'xyz')).toBe(3);
  });
});

describe('closest', () => {
  const technologies = ['exec', 'kubectl', 'ssh'];
  it('finds the likely typo', () => {
    expect(closest('kubctl', technologies)).toBe('kubectl');
    expect(closest('shh', technologies)).toBe('ssh');
    expect(closest('SSH', technologies)).toBe('ssh');
    expect(closest('postgress', ['http', 'kafka', 'postgres', 'tcp'])).toBe('postgres');
    expect(closest('daemon stauts', ['daemon status', 'daemon stop'])).toBe('daemon status');
  });

  it('prefers the nearest of several candidates', () => {
    expect(closest('stat', ['start', 'status', 'stop'])).toBe('start');
    expect(closest('statu', ['start', 'status', 'stop'])).toBe('status');
  });

  it('suggests nothing when no name is close, nor for short names two edits away', () => {
    expect(closest('redis', ['http', 'kafka', 'postgres', 'tcp'])).toBeUndefined();
    expect(closest('db', ['pg', 'api'])).toBeUndefined();
    expect(closest('', technologies)).toBeUndefined();
    expect(closest('x'.repeat(10000), ['x'])).toBeUndefined();
  });
});

describe('didYouMean', () => {
  it('is a clause to append, or nothing', () => {
    expect(didYouMean('kubctl', ['kubectl', 'ssh'])).toBe("; did you mean 'kubectl'?");
    expect(didYouMean('mysql', ['http', 'tcp'])).toBe('');
  });
});

describe('someOf: a bounded list of known names for an error message', () => {
  it('lists few names whole, in their order', () => {
    expect(someOf(['api', 'db', 'cache'], ['dbb'])).toBe('api, db, cache');
  });

  it('of many, the closest to what was typed first, then how many more', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
    const text = someOf(names, ['svc-0421x']);
    expect(text.startsWith('svc-0421, ')).toBe(true);
    expect(text.endsWith(' and 1990 more')).toBe(true);
    expect(text.split(', ')).toHaveLength(10);
    // Nothing typed to compare (or a name too long to compare): the first ones.
    expect(someOf(names, [], 3)).toBe('svc-0000, svc-0001, svc-0002 and 1997 more');
    expect(someOf(names, ['x'.repeat(1000)], 2)).toBe('svc-0000, svc-0001 and 1998 more');
  });
});
