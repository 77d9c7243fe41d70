import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { sha256 } from '../../core/sha256.js';

// core/sha256.ts names state files, sockets and log directories (configId, serviceLogFile): a daemon
// started by an older LocalPort must still be found, so it must equal node:crypto's digest exactly.
describe('sha256', () => {
  it('equals node:crypto for lengths around the block and padding edges, and for non-ASCII paths', () => {
    const texts = ['', 'abc', '/home/me/project/localport.yaml', 'é/ü/😀/中文'.repeat(20)];
    for (let n = 50; n <= 130; n++) texts.push('a'.repeat(n));
    for (let i = 0; i < 200; i++) texts.push(String.fromCharCode(...Array.from({ length: i * 7 }, (_, j) => 32 + ((i * 31 + j * 17) % 2000))));
    for (const t of texts) expect(sha256(t)).toBe(createHash('sha256').update(t).digest('hex'));
  });
});
