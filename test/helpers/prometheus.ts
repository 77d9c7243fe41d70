/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: prom-client writes the
 * format but has no parser. Throws, naming the line, on anything a Prometheus server would refuse:
 * a malformed name, label set or value; a sample before its TYPE or of a family never declared; a
 * family declared twice; a series repeated; a counter that is negative; a sample of a family split
 * by another.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: '${text}' is not a sample value`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` from `text[at] === '{'`; returns the labels and the index after `}`. */
function parseLabels(text: string, at: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = at + 1;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: a label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: '${name}' is not a label name`);
    if (name in labels) throw new Error(`${where}: label '${name}' given twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label '${name}' has no quoted value`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: label '${name}' is not closed`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[j + 1];
        if (e === '\\' || e === '"') value += e;
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: '\\${e}' is not an escape of the format`);
        j += 2;
        continue;
      }
      if (c === '\n') throw new Error(`${where}: a raw newline in label '${name}'`);
      value += c;
      j += 1;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') throw new Error(`${where}: expected ',' or '}' after label '${name}'`);
  }
}

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, n) => {
    const where = `line ${n + 1} '${line}'`;
    if (line.trim() === '') return;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (!NAME.test(name)) throw new Error(`${where}: '${name}' is not a metric name`);
      let family = families.get(name);
      if (!family) {
        if (closed.has(name)) throw new Error(`${where}: family ${name} appears twice`);
        family = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, family);
      }
      if (current && current !== name) closed.add(current);
      current = name;
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: '${rest}' is not a metric type`);
        if (family.samples.length) throw new Error(`${where}: TYPE after the family's samples`);
        family.type = rest as Family['type'];
      } else family.help = rest;
      return;
    }
    if (line.startsWith('#')) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!m) throw new Error(`${where}: not a sample`);
    const name = m[1];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
    const [valueText, timestamp, ...extra] = line.slice(i + 1).split(' ');
    if (extra.length || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) throw new Error(`${where}: junk after the value`);
    const value = parseValue(valueText, where);
    const family = families.get(name);
    if (!family || family.type === 'untyped') throw new Error(`${where}: a sample of ${name}, whose TYPE was not declared before it`);
    if (current !== name) throw new Error(`${where}: a sample of ${name} outside its family's block`);
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`${where}: a counter must be a number ≥ 0`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: the same series twice`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  });
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; throws when there is not exactly one. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const found = (families.get(name)?.samples ?? []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} with ${JSON.stringify(labels)}`);
  return found[0].value;
}
