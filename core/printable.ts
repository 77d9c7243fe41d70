/**
 * Text LocalPort did not write (a tunnel's output, an ssh server's banner, a YAML key) may hold
 * terminal control sequences: printed raw, `ESC ] 0 ; … BEL` retitles the user's window, `ESC [ 2 J`
 * clears the screen and `ESC [ 31 m` fakes colours, so a tunnel could forge or hide LocalPort's own
 * messages. Such text is made printable where it enters and again where it leaves for a terminal.
 */

/**
 * C0 controls but tab and newline, DEL, and C1 (U+0080–U+009F: U+009B is a one-character CSI on
 * terminals that honour C1). A newline is kept: it separates the lines of a message, and tunnel
 * output reaches here already split into lines. Everything from U+00A0 on is text (accents, CJK,
 * emoji) and passes unchanged.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * `text` with each control character shown as its JSON escape (ESC is `\u001b`, BEL `\u0007`), the
 * spelling config errors already use for a quoted value and `--output json` uses for everything: the
 * reader sees that something was there, and the terminal executes none of it. Text without one is
 * returned as is.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
