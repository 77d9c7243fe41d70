// Node's modules without `import`: cli/cached.ts uses this before the bundle runs, where an ES module
// importing node:fs would load fs/promises and its dependencies (cli/bin.ts).
const { lstatSync, realpathSync } = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/**
 * Every ancestor of `dir` must belong to root or to us, and must not be writable by others unless it
 * is sticky (like /tmp): otherwise its owner or anyone could rename `dir` away and put their own there.
 * Returns why not, or undefined.
 */
export function parentProblem(dir: string): string | undefined {
  const me = process.getuid?.() ?? 0;
  let p: string;
  try {
    p = realpathSync(path.dirname(dir));
  } catch {
    return undefined; // no parent: nothing there to trust or distrust yet
  }
  for (;;) {
    const st = lstatSync(p);
    if (st.uid !== me && st.uid !== 0) return `its parent ${p} belongs to uid ${st.uid}, who could replace it`;
    if (st.mode & 0o022 && !(st.mode & 0o1000)) return `its parent ${p} is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode 0${(st.mode & 0o7777).toString(8)}) and not sticky, so they could replace it`;
    const up = path.dirname(p);
    if (up === p) return undefined;
    p = up;
  }
}
