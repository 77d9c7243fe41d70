import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { request } from '../../../app/control/client.js';
import { LocalPortError } from '../../../core/errors.js';
import { Redactor } from '../../../core/redact.js';
import { ControlServer } from '../../../daemon/server.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = { debug() {}, info() {}, warn() {}, error() {} };

describe('ControlServer', () => {
  it('redacts every reply once, at the socket, errors included: a secret the daemon knows never reaches a client', async () => {
    const redactor = new Redactor();
    redactor.add('s3cr3t-value');
    const socket = path.join(dir, 'a.sock');
    const server = new ControlServer(
      socket,
      async (req) => {
        if (req.method === 'reload') throw new LocalPortError('RELOAD_FAILED', 'config reload failed: password s3cr3t-value refused');
        return { services: [{ name: 'db', target: 'postgres://u:s3cr3t-value@db' }] };
      },
      logger,
      (v) => redactor.data(v),
    );
    await server.listen();
    try {
      const reply = await request(socket, 'status', {});
      expect(JSON.stringify(reply)).not.toContain('s3cr3t-value');
      expect(JSON.stringify(reply)).toContain('postgres://u:');
      const failed = await request(socket, 'reload').then(
        () => undefined,
        (e: Error) => e,
      );
      expect(failed?.message).toMatch(/password \S+ refused/);
      expect(failed?.message).not.toContain('s3cr3t-value');
    } finally {
      await server.close();
    }
  });
});
