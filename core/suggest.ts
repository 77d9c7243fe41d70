/**
 * "Did you mean": the registered name closest to what the user typed, when it is close enough to be a
 * typo. One helper for every name a user types (technologies, health checks, formatters, services,
 * tags, commands) so that they all forgive the same mistakes.
 */

/**
 * Edit distance counting an insertion, a deletion, a substitution or a swap of two adjacent
 * characters as one edit (optimal string alignment): `stauts` is one edit from `status`, not two.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[rows - 1][cols - 1];
}

/** Edits allowed for a name of this length: short names need a near match, or `db` would suggest `pg`. */
const allowedEdits = (length: number) => (length <= 3 ? 1 : length <= 6 ? 2 : 3);

/** Typed names longer than this are not compared: no name is that long by mistake, and the cost is quadratic. */
const MAX_COMPARED = 100;

/**
 * The candidate closest to `input` (case-insensitive), or undefined when none is within the edits its
 * length allows. Ties go to the candidate listed first.
 */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  if (input.length === 0 || input.length > MAX_COMPARED) return undefined;
  const typed = input.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    if (name === input || Math.abs(name.length - input.length) > allowedEdits(input.length)) continue;
    const distance = editDistance(typed, name.toLowerCase());
    if (distance <= allowedEdits(Math.min(input.length, name.length)) && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** `; did you mean 'kubectl'?` to append to an "unknown …" message, or '' when nothing is close. */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const match = closest(input, candidates);
  return match === undefined ? '' : `; did you mean '${match}'?`;
}

/**
 * A list of known names for an error message, bounded: all of them when they are few; otherwise the
 * `max` closest to what was typed (by edit distance to any of `typed`), closest first, and how many more.
 * An unknown name among 2,000 services must not print all 2,000 (a 130 KB error).
 */
export function someOf(candidates: readonly string[], typed: readonly string[], max = 10): string {
  if (candidates.length <= max) return candidates.join(', ');
  const compared = typed.filter((t) => t.length > 0 && t.length <= MAX_COMPARED).slice(0, 5).map((t) => t.toLowerCase());
  const distance = (name: string) => (compared.length ? Math.min(...compared.map((t) => editDistance(t, name.toLowerCase()))) : 0);
  const near = candidates
    .map((name, i) => ({ name, i, d: distance(name) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .slice(0, max)
    .map((c) => c.name);
  return `${near.join(', ')} and ${candidates.length - near.length} more`;
}
