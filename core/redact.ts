/**
 * Every value substituted from `${VAR}` is a secret. The redactor knows them all and replaces
 * them with `***` in text (logs, errors) and in data (config print, status).
 */

export const REDACTED = '***';

export class Redactor {
  #secrets: string[] = [];

  /** Values shorter than this are not redacted from free text: `1` would wreck every line. */
  static readonly MIN_TEXT_LENGTH = 3;

  add(value: string): void {
    if (value.length === 0 || this.#secrets.includes(value)) return;
    this.#secrets.push(value);
    // Longest first, so that a secret containing another is replaced whole.
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.#secrets.length;
  }

  isSecret(value: string): boolean {
    return this.#secrets.includes(value);
  }

  text(input: string): string {
    let out = input;
    for (const secret of this.#secrets) {
      if (secret.length < Redactor.MIN_TEXT_LENGTH) continue;
      out = out.split(secret).join(REDACTED);
      // The same secret as it appears inside a JSON string (log lines are JSON).
      const escaped = JSON.stringify(secret).slice(1, -1);
      if (escaped !== secret) out = out.split(escaped).join(REDACTED);
    }
    return out;
  }

  /**
   * The first part of a line that was cut: besides the secrets in it, the end may be the start of one
   * the cut went through, which `text` cannot recognise. The longest such end is replaced too.
   */
  cutText(input: string): string {
    let out = this.text(input);
    let longest = 0;
    for (const secret of this.#secrets) {
      if (secret.length < Redactor.MIN_TEXT_LENGTH) continue;
      for (let k = Math.min(secret.length - 1, out.length); k > longest; k--) {
        if (out.endsWith(secret.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    if (longest) out = `${out.slice(0, out.length - longest)}${REDACTED}`;
    return out;
  }

  /** A deep copy of `value` with every secret string (or number that was one) replaced. */
  data<T>(value: T): T {
    return this.#walk(value) as T;
  }

  #walk(value: unknown): unknown {
    if (typeof value === 'string') return this.isSecret(value) ? REDACTED : this.text(value);
    if (typeof value === 'number' || typeof value === 'boolean') {
      return this.isSecret(String(value)) ? REDACTED : value;
    }
    if (Array.isArray(value)) return value.map((v) => this.#walk(v));
    if (value instanceof RegExp) return new RegExp(this.text(value.source), value.flags);
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.#walk(v);
      return out;
    }
    return value;
  }
}
