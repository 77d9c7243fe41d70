import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { builtins } from '../../../app/builtins.js';
import { configObject, definePlugin } from '../../../core/index.js';
import { resolveConfig } from '../../../core/config/resolve.js';
import { ConfigError } from '../../../core/errors.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-resolve-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A third-party technology whose `labels` map is user data. */
const labelled = definePlugin({
  name: 'test:labelled',
  apply(api) {
    api.registerTechnology({
      type: 'labelled',
      connectionSchema: configObject({ labels: z.record(z.string(), z.string()).default({}), someKey: z.string().optional() }),
      freeFormKeys: ['labels'],
      describeTarget: () => 'labelled',
      createForward: () => ({ command: process.execPath, args: [], ready: { output: /^READY$/ } }),
    });
  },
});

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(root, 't-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(d, name), text);
  return d;
}

describe('resolveConfig', () => {
  it('keeps the keys a plugin declares free-form as written when presets merge, and converts the rest', async () => {
    const d = dir({ 'team.yaml': 'services:\n  - name: a\n    technology: labelled\n    local_port: 7001\n    remote_port: 1\n    connection:\n      some_key: x\n      labels: { team_name: core }\n' });
    const raw = { extends: './team.yaml', services: [{ name: 'a', connection: { labels: { cost_center: '42' } } }] };
    const { config } = await resolveConfig(raw, { ...builtins(), plugins: [builtins().plugins, labelled], file: path.join(d, 'localport.yaml') });
    expect(config.services[0].connection).toEqual({ someKey: 'x', labels: { team_name: 'core', cost_center: '42' } });
  });

  it("keeps exec's `vars` as written through a preset, so `{snake_name}` placeholders still match", async () => {
    const d = dir({ 'base.yaml': 'services:\n  - name: e\n    technology: exec\n    local_port: 7002\n    remote_port: 1\n    connection: { command: /bin/true, args: ["{my_zone}"], vars: { my_zone: eu } }\n' });
    const { config } = await resolveConfig({ extends: './base.yaml', services: [] }, { ...builtins(), file: path.join(d, 'localport.yaml') });
    expect((config.services[0].connection as { vars: unknown }).vars).toEqual({ my_zone: 'eu' });
  });

  it('gives a service without a check the default the composition root names, and says so when none is named', async () => {
    const raw = { services: [{ name: 'a', technology: 'exec', local_port: 7003, remote_port: 1, connection: { command: '/bin/true' } }] };
    const { config } = await resolveConfig(raw, { ...builtins(), file: 'x.yaml' });
    expect(config.services[0].healthCheck.type).toBe('tcp');
    const e = await resolveConfig(raw, { plugins: builtins().plugins, file: 'x.yaml' }).catch((err) => err);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/services\[0\] \(a\)\.health_check\.type: is required: no default health check is set; registered: http, kafka, postgres, tcp/);
  });

  it('applies a preset\'s plugins and runs configResolved taps; on a reload (an existing hub) it applies none again', async () => {
    const d = dir({
      'plug.mjs': "export default (o) => ({ name: 'test:renamer', apply(api) { api.hooks.configResolved.tap('test:renamer', (c) => ({ ...c, services: c.services.map((s) => ({ ...s, localPort: s.localPort + o.add })) })); } });\n",
      'preset.mjs': "export default { plugins: [['./plug.mjs', { add: 1 }]], services: { p: { technology: 'exec', localPort: 7010, remotePort: 1, connection: { command: '/bin/true' } } } };\n",
    });
    const file = path.join(d, 'localport.yaml');
    const first = await resolveConfig({ extends: './preset.mjs', services: [] }, { ...builtins(), file });
    expect(first.hub.plugins).toContain('test:renamer');
    expect(first.config.services.map((s) => [s.name, s.localPort, s.source])).toEqual([['p', 7011, './preset.mjs']]);
    expect(first.presetFiles).toEqual([path.join(d, 'preset.mjs')]);
    const again = await resolveConfig({ extends: './preset.mjs', services: [] }, { file, hub: first.hub });
    expect(again.hub).toBe(first.hub);
    expect(again.config.services[0].localPort).toBe(7011);
  });
});
