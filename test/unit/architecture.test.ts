/**
 * The layering rule, enforced: `core/` is the engine and imports nothing from the layers built on it.
 *
 *   core/      hub, hooks, plugin API, registries, config resolution, supervisor, state files
 *   plugins/   built-in plugins: only core's public API (core/index.ts), like a third-party plugin
 *   presets/   core's public API and plugins
 *   app/       what each command does; the composition root (default preset + built-in plugins)
 *   daemon/    the background process; uses app and core
 *   cli/       clipanion commands; uses app and core (the daemon is started by path, never imported)
 *
 * Every import is checked: static, `export … from`, dynamic `import('…')` and `import type`.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Layer = 'core' | 'plugins' | 'presets' | 'app' | 'daemon' | 'cli';
const LAYERS: Layer[] = ['core', 'plugins', 'presets', 'app', 'daemon', 'cli'];

/** What each layer may import (besides itself and packages). */
const ALLOWED: Record<Layer, (target: string) => boolean> = {
  core: () => false,
  plugins: (t) => t === 'core/index.ts',
  presets: (t) => t === 'core/index.ts' || t.startsWith('plugins/'),
  app: (t) => /^(core|plugins|presets)\//.test(t),
  daemon: (t) => /^(core|app)\//.test(t),
  cli: (t) => /^(core|app)\//.test(t),
};

function sources(root: string, dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(path.join(root, dir), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(root, rel));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"\n]+)\1/g;

/** Every relative import of a file, as a repository path (`core/x.ts`). */
function importsOf(root: string, file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[2]!;
    if (!spec.startsWith('.')) continue;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** Violations of the layering rule in the tree at `root`: `file -> target (rule)`. */
export function layerViolations(root: string): string[] {
  const bad: string[] = [];
  for (const layer of LAYERS) {
    for (const file of sources(root, layer)) {
      for (const target of importsOf(root, file)) {
        const own = target.startsWith(`${layer}/`);
        // A plugin may use its own folder and shared helpers among plugins; nothing of core but the API.
        if (own || ALLOWED[layer](target)) continue;
        bad.push(`${file} -> ${target} (${layer}/ may not import it)`);
      }
    }
  }
  return bad;
}

describe('layering', () => {
  it('core/ imports nothing from app, daemon, cli, plugins or presets; app never imports daemon or cli', () => {
    expect(layerViolations(ROOT)).toEqual([]);
  });

  it('the rule sees static, dynamic, re-exported and type-only imports (a tree that breaks it)', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'lp-layers-'));
    const put = (f: string, text: string) => {
      mkdirSync(path.dirname(path.join(tmp, f)), { recursive: true });
      writeFileSync(path.join(tmp, f), text);
    };
    put('core/index.ts', "export * from './hub.js';\n");
    put('core/hub.ts', "import { defaultPreset } from '../presets/default/index.js';\n");
    put('core/config/load.ts', "const m = await import('../../app/project.js');\n");
    put('core/types.ts', "import type { X } from '../cli/bin.js';\nexport { y } from '../plugins/ssh/index.js';\n");
    put('app/start.ts', "import { Daemon } from '../daemon/Daemon.js';\nimport { x } from '../core/state.js';\n");
    put('plugins/ssh/index.ts', "import { z } from '../../core/config/schema.js';\nimport { ok } from '../../core/index.js';\n");
    put('presets/default/index.ts', "import { ssh } from '../../plugins/ssh/index.js';\n");
    expect(layerViolations(tmp).sort()).toEqual([
      'app/start.ts -> daemon/Daemon.ts (app/ may not import it)',
      'core/config/load.ts -> app/project.ts (core/ may not import it)',
      'core/hub.ts -> presets/default/index.ts (core/ may not import it)',
      'core/types.ts -> cli/bin.ts (core/ may not import it)',
      'core/types.ts -> plugins/ssh/index.ts (core/ may not import it)',
      'plugins/ssh/index.ts -> core/config/schema.ts (plugins/ may not import it)',
    ]);
  });
});
