import { describe, expect, it } from '@jest/globals';
import { printable } from '../../core/printable.js';

describe('printable', () => {
  it('shows ESC, BEL and the other C0 controls as JSON escapes, so a terminal obeys none of them', () => {
    expect(printable('\x1b]0;PWNED\x07\x1b[2J\x1b[31mfake: all good')).toBe('\\u001b]0;PWNED\\u0007\\u001b[2J\\u001b[31mfake: all good');
    expect(printable('a\x00b\x08c\rd\x0be\x0cf')).toBe('a\\u0000b\\u0008c\\u000dd\\u000be\\u000cf');
  });

  it('shows DEL and the C1 controls too (U+009B is a one-character CSI)', () => {
    expect(printable('x\x7fy\u0080z\u009b2J\u009f')).toBe('x\\u007fy\\u0080z\\u009b2J\\u009f');
  });

  it('keeps tab and newline, which separate columns and the lines of a message', () => {
    expect(printable('a\tb\nc')).toBe('a\tb\nc');
  });

  it('leaves text alone: accents, CJK, emoji, no-break space, right-to-left script', () => {
    const text = 'café naïve Ærø — 日本語 한국어 😀👍🏽 \u00a0 שלום';
    expect(printable(text)).toBe(text);
    expect(printable('')).toBe('');
  });

  it('keeps no control character whatever the input, every result being printable already', () => {
    for (let c = 0; c < 0x3000; c++) {
      const out = printable(`<${String.fromCharCode(c)}>`);
      expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
      expect(printable(out)).toBe(out);
    }
  });
});
