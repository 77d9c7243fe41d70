import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { findConfigFile, loadRawConfig } from '../../../core/config/load.js';
import { ConfigError } from '../../../core/errors.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(root, 'p-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const yaml = 'services:\n  - name: a\n    technology: ssh\n    local_port: 1\n    remote_port: 2\n';

describe('config discovery', () => {
  it.each([
    ['localport.yaml', yaml],
    ['localport.yml', yaml],
    ['.localportrc', yaml],
    ['.localportrc.yaml', yaml],
    ['.localportrc.json', JSON.stringify({ services: [{ name: 'a' }] })],
    ['localport.config.json', JSON.stringify({ services: [{ name: 'a' }] })],
    ['localport.config.mjs', 'export default { services: [{ name: "a" }] };'],
    ['localport.config.cjs', 'module.exports = { services: [{ name: "a" }] };'],
  ])('finds %s', async (file, text) => {
    const dir = project({ [file]: text });
    const { file: found, raw } = await loadRawConfig({ cwd: dir });
    expect(found).toBe(path.join(dir, file));
    // The parse-free locator the daemon commands use agrees with cosmiconfig.
    expect(findConfigFile({ cwd: dir })).toBe(found);
    expect((raw as { services: { name: string }[] }).services[0].name).toBe('a');
  });

  it('reads the "localport" key of package.json', async () => {
    const dir = project({ 'package.json': JSON.stringify({ name: 'x', localport: { services: [{ name: 'pk' }] } }) });
    const { raw } = await loadRawConfig({ cwd: dir });
    expect((raw as { services: { name: string }[] }).services[0].name).toBe('pk');
    expect(findConfigFile({ cwd: dir })).toBe(path.join(dir, 'package.json'));
    // A package.json without the key is no config: the search goes on to localport.yaml beside it.
    const other = project({ 'package.json': '{"name":"x"}', 'localport.yaml': yaml });
    expect(findConfigFile({ cwd: other })).toBe(path.join(other, 'localport.yaml'));
    expect((await loadRawConfig({ cwd: other })).file).toBe(path.join(other, 'localport.yaml'));
  });

  it('loads localport.config.ts with jiti, resolving `import … from "localport"` to this package', async () => {
    const dir = project({
      'localport.config.ts': `import { defineConfig } from 'localport';\nconst port: number = 5432;\nexport default defineConfig({ services: { db: { technology: 'ssh', localPort: port, remotePort: 5432, connection: { host: 'h' } } } });\n`,
    });
    const { raw } = await loadRawConfig({ cwd: dir });
    expect(raw).toEqual({ services: { db: { technology: 'ssh', localPort: 5432, remotePort: 5432, connection: { host: 'h' } } } });
  });

  it('searches parent directories up to the project root', async () => {
    const dir = project({ 'package.json': '{"name":"p"}', 'localport.yaml': yaml, 'sub/deeper/.keep': '' });
    const { file } = await loadRawConfig({ cwd: path.join(dir, 'sub', 'deeper') });
    expect(file).toBe(path.join(dir, 'localport.yaml'));
    expect(findConfigFile({ cwd: path.join(dir, 'sub', 'deeper') })).toBe(file);
  });

  it('in a monorepo, goes past a package.json without a localport key up to the repository root (.git)', async () => {
    const repo = project({ '.git/HEAD': 'ref: refs/heads/main\n', 'package.json': '{"name":"mono","private":true}', 'localport.yaml': yaml, 'packages/web/package.json': '{"name":"web"}', 'packages/web/src/.keep': '' });
    const from = path.join(repo, 'packages', 'web', 'src');
    expect(findConfigFile({ cwd: from })).toBe(path.join(repo, 'localport.yaml'));
    expect((await loadRawConfig({ cwd: from })).file).toBe(path.join(repo, 'localport.yaml'));
    // A package's own config (or its package.json's localport key) wins, being nearer.
    writeFileSync(path.join(repo, 'packages', 'web', 'package.json'), JSON.stringify({ name: 'web', localport: { services: [{ name: 'w' }] } }));
    expect(findConfigFile({ cwd: from })).toBe(path.join(repo, 'packages', 'web', 'package.json'));
    // A git worktree has a .git file: its root ends the search just the same; nothing above it is taken.
    const outer = project({ 'localport.yaml': yaml, 'wt/.git': 'gitdir: /elsewhere\n', 'wt/package.json': '{"name":"wt"}', 'wt/pkg/package.json': '{"name":"pkg"}' });
    // The error says where the search stopped, and why (it said "or its parent directories").
    expect(() => findConfigFile({ cwd: path.join(outer, 'wt', 'pkg') })).toThrow(`no LocalPort config found in ${path.join(outer, 'wt', 'pkg')} or its parents up to ${path.join(outer, 'wt')} (the repository's root, where the search stops)`);
  });

  it('outside a repository, stops at the nearest package.json (the project root)', async () => {
    const dir = project({ 'localport.yaml': yaml, 'app/package.json': '{"name":"app"}', 'app/src/.keep': '' });
    expect(() => findConfigFile({ cwd: path.join(dir, 'app', 'src') })).toThrow(`no LocalPort config found in ${path.join(dir, 'app', 'src')} or its parents up to ${path.join(dir, 'app')} (the project's root, with a package.json, where the search stops)`);
  });

  it('reports a YAML syntax error with file, line and column', async () => {
    const dir = project({ 'localport.yaml': 'services:\n  - name: a\n   bad: [\n' });
    await expect(loadRawConfig({ cwd: dir })).rejects.toThrow(new RegExp(`^${path.join(dir, 'localport.yaml')}:\\d+:\\d+: YAML syntax error: `));
  });

  it('says when --config does not exist', async () => {
    const err = await loadRawConfig({ cwd: root, configPath: 'nope.yaml' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`--config: config file not found: ${path.join(root, 'nope.yaml')}`);
    expect(err.exitCode).toBe(2);
  });

  it('says when no config is found', async () => {
    const dir = project({ 'package.json': '{"name":"empty"}' });
    await expect(loadRawConfig({ cwd: dir })).rejects.toThrow(/no LocalPort config found in/);
  });

  it('reports a JSON syntax error with the parser\'s reason, line and column', async () => {
    const dir = project({ 'localport.config.json': '{\n  "services": [\n    { "name": "a", }\n  ]\n}\n' });
    await expect(loadRawConfig({ cwd: dir })).rejects.toThrow(`${path.join(dir, 'localport.config.json')}:3:20: JSON syntax error: Expected double-quoted property name`);
    const typo = project({ '.localportrc.json': '{"services": [ {"enabled": tru} ]}' });
    await expect(loadRawConfig({ cwd: typo })).rejects.toThrow(`${path.join(typo, '.localportrc.json')}:1:31: JSON syntax error: Unexpected token '}'`);
  });

  it('refuses an empty config in the current directory instead of using the parent directory\'s', async () => {
    const dir = project({ 'localport.yaml': yaml, 'sub/localport.yaml': '' });
    const err = await loadRawConfig({ cwd: path.join(dir, 'sub') }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`${path.join(dir, 'sub', 'localport.yaml')}: the config is empty; declare at least \`services:\``);
    // status and stop look at the same file.
    expect(findConfigFile({ cwd: path.join(dir, 'sub') })).toBe(path.join(dir, 'sub', 'localport.yaml'));
  });

  it('refuses a config that cannot be read, naming it, and does not call it a syntax error', async () => {
    const dir = project({ 'localport.yaml': yaml, 'sub/localport.yml/README': 'a directory by a config name' });
    const err = await loadRawConfig({ cwd: path.join(dir, 'sub') }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`${path.join(dir, 'sub', 'localport.yml')}: cannot read the config file: it is a directory, not a file (EISDIR)`);
    expect(err.exitCode).toBe(2);
  });
});
