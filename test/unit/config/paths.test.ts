import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { resolveConfig } from '../../../core/config/resolve.js';
import { resolvePathValue } from '../../../core/config/paths.js';
import { Redactor } from '../../../core/redact.js';
import { builtins } from '../../../app/builtins.js';
import type { LocalPortPlugin } from '../../../core/types.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-paths-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function resolveAt(file: string, raw: unknown, env: NodeJS.ProcessEnv = {}, extra: LocalPortPlugin[] = []) {
  const { plugins, defaultHealthCheck } = builtins();
  return (await resolveConfig(raw, { file, cwd: root, env, plugins: [plugins, extra], defaultHealthCheck, redactor: new Redactor() })).config;
}

const ssh = (name: string, port: number, connection: Record<string, unknown>) => ({ name, technology: 'ssh', local_port: port, remote_port: 80, connection });

describe('path keys', () => {
  it('expands ~ and leaves absolute paths alone', () => {
    expect(resolvePathValue('~', '/cfg')).toBe(os.homedir());
    expect(resolvePathValue('~/.ssh/id', '/cfg')).toBe(path.join(os.homedir(), '.ssh/id'));
    expect(resolvePathValue('/abs/id', '/cfg')).toBe('/abs/id');
    expect(resolvePathValue('keys/id', '/cfg')).toBe('/cfg/keys/id');
    expect(resolvePathValue('../keys/id', '/cfg/sub')).toBe('/cfg/keys/id');
  });

  it("resolves ssh's key_file, known_hosts_file and ssh_config against the config file's directory, not the working directory", async () => {
    const config = await resolveAt(path.join(root, 'proj', 'localport.yaml'), {
      services: [ssh('a', 8001, { host: 'h', key_file: 'keys/id', known_hosts_file: './known_hosts', ssh_config: '~/.ssh/work', jump_host: 'j' })],
    });
    expect(config.services[0].connection).toMatchObject({
      keyFile: path.join(root, 'proj', 'keys', 'id'),
      knownHostsFile: path.join(root, 'proj', 'known_hosts'),
      sshConfig: path.join(os.homedir(), '.ssh', 'work'),
      // Not a path key: a host name stays as written.
      jumpHost: 'j',
    });
  });

  it('resolves a value a preset sets against the preset\'s directory, and the local file\'s against its own', async () => {
    mkdirSync(path.join(root, 'team', 'ssh'), { recursive: true });
    writeFileSync(
      path.join(root, 'team', 'preset.yaml'),
      'services:\n  - { name: a, technology: ssh, local_port: 8101, remote_port: 80, connection: { host: h, known_hosts_file: ssh/known_hosts, key_file: ssh/id } }\n' +
        '  - { name: b, technology: ssh, local_port: 8102, remote_port: 80, connection: { host: h, key_file: ssh/id } }\n',
    );
    const config = await resolveAt(path.join(root, 'app', 'localport.yaml'), {
      extends: '../team/preset.yaml',
      services: [{ name: 'a', connection: { key_file: 'mine/id' } }, { name: 'b', enabled: false }],
    });
    const [a, b] = config.services;
    expect(a.connection).toMatchObject({ knownHostsFile: path.join(root, 'team', 'ssh', 'known_hosts'), keyFile: path.join(root, 'app', 'mine', 'id') });
    expect(b.connection).toMatchObject({ keyFile: path.join(root, 'team', 'ssh', 'id') });
  });

  it('resolves after ${VAR} substitution: an absolute value from the environment stays absolute', async () => {
    const config = await resolveAt(path.join(root, 'proj', 'localport.yaml'), {
      services: [ssh('a', 8201, { host: 'h', key_file: '${KEYS}/id', known_hosts_file: '${REL}/kh' })],
    }, { KEYS: '/secure/keys', REL: 'rel' });
    expect(config.services[0].connection).toMatchObject({ keyFile: '/secure/keys/id', knownHostsFile: path.join(root, 'proj', 'rel', 'kh') });
  });

  it('is generic: a technology declares its path keys, and other keys and technologies are left alone', async () => {
    const { configObject, z } = await import('../../../core/index.js');
    const plugin: LocalPortPlugin = {
      name: 'test:files',
      apply(api) {
        api.registerTechnology({
          type: 'files',
          connectionSchema: configObject({ certFile: z.string(), label: z.string() }),
          pathKeys: ['certFile'],
          describeTarget: () => 'x',
          createForward: () => ({ command: 'true', args: [], ready: { port: true } }),
        });
      },
    };
    const config = await resolveAt(path.join(root, 'proj', 'localport.yaml'), {
      services: [{ name: 'f', technology: 'files', local_port: 8301, remote_port: 1, connection: { cert_file: 'c.pem', label: 'c.pem' } }],
    }, {}, [plugin]);
    expect(config.services[0].connection).toEqual({ certFile: path.join(root, 'proj', 'c.pem'), label: 'c.pem' });
  });
});
