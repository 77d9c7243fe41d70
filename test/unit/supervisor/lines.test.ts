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

  it('keeps a line of exactly the limit whole', () => {
    expect(split(['abcd\nefgh', '\n'], 4)).toEqual(['abcd', 'efgh']);
  });

  it('cuts a longer line at the limit at once, and counts what was dropped when it ends', () => {
    expect(split(['abc', 'defgh', 'ij\nnext\n'], 4)).toEqual(['abcd|cut', '<6 cut>', 'next']);
    // A line that never ends: the head is out at once, the count when the stream ends.
    expect(split(['abcdef', 'x'.repeat(100)], 4)).toEqual(['abcd|cut', '<102 cut>']);
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
  it('lets a burst through, then drops and counts, and says so at most once a second', () => {
    const b = new OutputBudget(1000, 3000);
    expect(b.take(2000)).toBe(true);
    expect(b.take(1000)).toBe(true);
    expect(b.take(500)).toBe(false);
    expect(b.take(500)).toBe(false);
    expect(b.report(true)).toBe('dropped 2 lines (1000 bytes) of output: more than 1 KiB/s');
    expect(b.take(800)).toBe(false);
    expect(b.report()).toBeUndefined(); // reported less than a second ago
    expect(b.report(true)).toBe('dropped 1 line (800 bytes) of output: more than 1 KiB/s');
    expect(b.report(true)).toBeUndefined();
  });
});
