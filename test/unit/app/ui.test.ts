import { describe, expect, it } from '@jest/globals';
import { openerFor } from '../../../app/ui.js';

// How `localport ui` hands the URL to a browser: the platform's opener, the URL one argument of its own
// (never a shell string: the token's characters and a hostile URL stay data), and nothing without a display.

describe('openerFor', () => {
  const url = 'http://127.0.0.1:7070/?token=a-b_c';
  it('uses xdg-open on Linux with a display, open on macOS, the URL handler on Windows', () => {
    expect(openerFor(url, 'linux', { DISPLAY: ':0' })).toEqual(['xdg-open', [url]]);
    expect(openerFor(url, 'linux', { WAYLAND_DISPLAY: 'wayland-0' })).toEqual(['xdg-open', [url]]);
    expect(openerFor(url, 'darwin', {})).toEqual(['open', [url]]);
    expect(openerFor(url, 'win32', {})).toEqual(['rundll32', ['url.dll,FileProtocolHandler', url]]);
  });

  it('has none on Linux without a display (the URL is printed instead)', () => {
    expect(openerFor(url, 'linux', {})).toBeUndefined();
  });
});
