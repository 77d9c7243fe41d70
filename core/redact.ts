/**
 * Every value substituted from `${VAR}` into a string is a secret. The redactor knows them all and
 * replaces them with `***` in text (logs, errors) and in data (config print, status). The rules:
 *
 * - Numbers and booleans are never secrets: a value that only ever went into a number or true/false
 *   field (a port, a timeout) is released after validation (`release`), and a number or boolean in
 *   structured output is never replaced, whatever secret it equals.
 * - In structured output, a string that equals a secret is replaced whole, whatever its length.
 * - In free text (a log line, an error, a string field holding more than the secret), a secret of
 *   WHOLE_WORD_LENGTH characters or more is replaced wherever it appears; a shorter one (3 to 7
 *   characters) only where it stands alone, not inside a longer word or number (`dev` is replaced in
 *   `user dev:` but not in `device`); one of 1 or 2 characters is not looked for in free text at all.
 * - Free text is searched for each secret's forms: as written, JSON-escaped, percent-encoded (#forms).
 */

export const REDACTED = '***';

export class Redactor {
  #secrets: string[] = [];
  #patterns = new Map<string, RegExp>();
  #formsOf = new Map<string, string[]>();

  /** Values shorter than this are not redacted from free text: `1` would wreck every line. */
  static readonly MIN_TEXT_LENGTH = 3;
  /** Values shorter than this are redacted from free text only where they stand alone (see above). */
  static readonly WHOLE_WORD_LENGTH = 8;

  add(value: string): void {
    if (value.length === 0 || this.#secrets.includes(value)) return;
    this.#secrets.push(value);
    // Longest first, so that a secret containing another is replaced whole.
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  /** No longer a secret (a value that only went into number fields: see resolveConfig). */
  release(value: string): void {
    this.#secrets = this.#secrets.filter((s) => s !== value);
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
      for (const form of this.#forms(secret)) {
        out = secret.length >= Redactor.WHOLE_WORD_LENGTH ? out.split(form).join(REDACTED) : out.replace(this.#alone(form), REDACTED);
      }
    }
    return out;
  }

  /**
   * The ways a secret is written where it leaks: as it is; inside a JSON string (log lines are JSON);
   * percent-encoded in a URL (a password in `postgres://u:p%40ss@h`, a key in `?k=…`, a form's `+` for a
   * space), with upper- or lower-case hex, as a program that logs its request URL writes it.
   */
  #forms(secret: string): string[] {
    let forms = this.#formsOf.get(secret);
    if (!forms) {
      let encoded: string[] = [];
      try {
        encoded = [encodeURIComponent(secret), encodeURIComponent(secret).replaceAll('%20', '+'), encodeURI(secret)];
      } catch {
        /* a lone surrogate has no URL form (URIError) */
      }
      forms = [...new Set([secret, JSON.stringify(secret).slice(1, -1), ...encoded, ...encoded.map((e) => e.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()))])];
      this.#formsOf.set(secret, forms);
    }
    return forms;
  }

  /** `form` where no letter or digit touches it on either side. */
  #alone(form: string): RegExp {
    let re = this.#patterns.get(form);
    if (!re) {
      re = new RegExp(`(?<![\\p{L}\\p{N}])${form.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'gu');
      this.#patterns.set(form, re);
    }
    return re;
  }

  /**
   * The first part of a line that was cut: besides the secrets in it, the end may be the start of one
   * the cut went through, which `text` cannot recognise. The longest such end is replaced too (for a
   * short secret, only an end that starts a word, as `text` would).
   */
  cutText(input: string): string {
    let out = this.text(input);
    let longest = 0;
    for (const secret of this.#secrets) {
      if (secret.length < Redactor.MIN_TEXT_LENGTH) continue;
      for (let k = Math.min(secret.length - 1, out.length); k > longest; k--) {
        if (!out.endsWith(secret.slice(0, k))) continue;
        if (secret.length < Redactor.WHOLE_WORD_LENGTH && /[\p{L}\p{N}]/u.test(out.charAt(out.length - k - 1))) continue;
        longest = k;
        break;
      }
    }
    if (longest) out = `${out.slice(0, out.length - longest)}${REDACTED}`;
    return out;
  }

  /** A deep copy of `value` with every secret string replaced (numbers and booleans are kept: see above). */
  data<T>(value: T): T {
    return this.#walk(value) as T;
  }

  #walk(value: unknown): unknown {
    if (typeof value === 'string') return this.isSecret(value) ? REDACTED : this.text(value);
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
