import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isModule, linkNodeTypes, readmeTsBlocks, REPO, typecheck, writeGuide, writeUserProject } from '../helpers/guide.js';

// The plugin guide compiles exactly as printed in a user's project under "moduleResolution": "NodeNext",
// where a relative import needs its extension (TS2835 otherwise). 'localport' is linked to this repository
// as `npm link` would, so it resolves through package.json "exports" to the built dist/index.d.ts.
// test/e2e/pack.test.ts checks the same guide against the packed tarball installed from npm.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-guide-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the plugin guide under NodeNext', () => {
  it('has no README TypeScript block that is neither a whole file nor the one known fragment', () => {
    // A whole file is type-checked below; a new fragment must be added here on purpose.
    expect(readmeTsBlocks().filter((b) => !isModule(b)).map((b) => b.text.trim())).toEqual([
      "plugins: [myPlugin(), ['localport-plugin-foo', { region: 'eu' }], 'localport-plugin-bar', false, [presetPlugins]]",
    ]);
  });

  it('type-checks docs/examples and every whole-file README block, as printed', async () => {
    writeUserProject(dir);
    linkNodeTypes(dir);
    symlinkSync(REPO, path.join(dir, 'node_modules', 'localport'), 'dir');
    const origin = writeGuide(dir);
    expect([...origin.keys()]).toEqual(expect.arrayContaining(['socat-technology.ts', 'banner-check.ts', 'notify-plugin.ts']));
    expect(origin.size).toBeGreaterThan(6);
    const { code, output } = await typecheck(dir);
    const explained = output.replace(/src\/([\w.-]+\.ts)/g, (m, f: string) => `${m} (${origin.get(f) ?? '?'})`);
    expect(explained).toBe('');
    expect(code).toBe(0);
  });
});
