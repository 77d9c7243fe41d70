import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { LineSplitter, OutputBudget } from '../../../core/supervisor/lines.js';

function split(chunks: (string | Buffer)[], max?: number) {
  const out: string[] = [];
  const s = new LineSplitter({ line: (t, cut) => out.push(cut ? `${t}|cut` : t), cutEnded: (n) => out.push(`<${n} cut>`) }, max);
  for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('splits at \\n, \\r\\n and a lone \\r, also across chunks, as readline did', () => {
    expect(split(['a\nb\r\nc\rd', 'e\n'])).toEqual(['a', 'b', 'c', 'de']);
    expect(split(['one\r', '\ntwo\r', 'three'])).toEqual(['one', 'two', 'three']);
    expect(split(['x\n\ny\n'])).toEqual(['x', '', 'y']);
    expect(split(['no newline at the end'])).toEqual(['no newline at the end']);
    expect(split([])).toEqual([]);
  });

  it('hands on lines with their terminal escapes shown, not live, and UTF-8 split across chunks intact', () => {
    expect(split(['\x1b]0;PWNED\x07\x1b[2J\x1b[31mfake: all good\n'])).toEqual(['\\u001b]0;PWNED\\u0007\\u001b[2J\\u001b[31mfake: all good']);
    const utf8 = Buffer.from('café 日本 😀\n');
    // Cut inside "é", inside "日" and inside the emoji: decoded once the line is whole.
    expect(split([utf8.subarray(0, 4), utf8.subarray(4, 8), utf8.subarray(8, 15), utf8.subarray(15)])).toEqual(['café 日本 😀']);
  });

  it('keeps a line of exactly the limit whole', () => {
    expect(split(['abcd\nefgh', '\n'], 4)).toEqual(['abcd', 'efgh']);
  });

  it('cuts a longer line at the limit at once, and counts what was dropped when it ends', () => {
    expect(split(['abc', 'defgh', 'ij\nnext\n'], 4)).toEqual(['abcd|cut', '<6 cut>', 'next']);
    // A line that never ends: the head is out at once, the count when the stream ends.
    expect(split(['abcdef', 'x'.repeat(100)], 4)).toEqual(['abcd|cut', '<102 cut>']);
  });

  it('survives random bytes, holding at most the limit in memory', () => {
    const lines: string[] = [];
    const s = new LineSplitter({ line: (t) => void lines.push(t), cutEnded: () => {} }, 8192);
    for (let i = 0; i < 100; i++) s.push(randomBytes(65536));
    s.end();
    expect(lines.length).toBeGreaterThan(1000);
    // At most 6 bytes a byte: a control byte is shown as `\u001b` (3 for U+FFFD, an invalid byte).
    expect(Math.max(...lines.map((l) => Buffer.byteLength(l)))).toBeLessThanOrEqual(8192 * 6);
    expect(lines.join('')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it('holds at most the limit in memory, whatever arrives', () => {
    const s = new LineSplitter({ line: () => {}, cutEnded: () => {} }, 8192);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 2000; i++) s.push(chunk); // 128 MB without a newline
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('OutputBudget', () => {
  it('lets a burst through, then drops the rest of the output unread, and says so at most once a second', () => {
    const budget = new OutputBudget(1000, 64 * 10); // ten short lines, then nothing for a while
    const out: string[] = [];
    const s = new LineSplitter({ line: (t) => (budget.spend(t.length), out.push(t)), cutEnded: () => {} }, 8192, budget);
    s.push(Buffer.from('y\n'.repeat(100)));
    expect(out).toHaveLength(10);
    // The line cut by the drop is not half-printed later: splitting starts after the next break.
    s.push(Buffer.from('tail of a dropped line\nnext\n'));
    expect(out).toHaveLength(10);
    expect(budget.report(true)).toBe('dropped 208 bytes of output: more than LocalPort handles for one service (about 16 short lines or 1 KiB a second)');
    expect(budget.report()).toBeUndefined();
    expect(budget.report(true)).toBeUndefined();
  });

  it('keeps a flood of short lines cheap', () => {
    const budget = new OutputBudget();
    let lines = 0;
    const s = new LineSplitter({ line: (t) => (budget.spend(t.length), (lines += 1)), cutEnded: () => {} }, 8192, budget);
    const chunk = Buffer.from('y\n'.repeat(32 * 1024)); // `yes`: 32768 lines in one 64 KiB read
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) s.push(chunk);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(lines).toBeLessThan(10_000);
  });
});
