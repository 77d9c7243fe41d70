import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { childrenFile, identify, reapLeftovers } from '../../../core/supervisor/reaper.js';
import { alive, waitUntil } from '../../helpers/procs.js';

describe('orphan reaper', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-reaper-'));
  const env = { LOCALPORT_STATE_DIR: root };
  const config = path.join(root, 'localport.yaml');
  const started: ChildProcess[] = [];
  afterAll(() => {
    started.forEach((c) => c.kill('SIGKILL'));
    rmSync(root, { recursive: true, force: true });
  });

  const sleeper = (marker?: string) => {
    const c = spawn('sleep', ['30'], { detached: true, stdio: 'ignore', env: { ...process.env, ...(marker ? { LOCALPORT_OWNER: marker } : {}) } });
    started.push(c);
    return c.pid!;
  };
  /** A LocalPort process that is gone: a pid with a start time no live process has. */
  const deadOwner = { pid: process.pid, startTime: '1' };
  const record = (ownerPid: number, data: unknown) => {
    const file = childrenFile(config, ownerPid, env);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(data));
    return file;
  };

  it("kills only processes carrying a dead owner's marker, leaves a live owner's and strangers alone", async () => {
    const mine = sleeper('dead-owner-marker');
    const forkedByMine = sleeper('dead-owner-marker'); // another process group: left it, or was never in it
    const stranger = sleeper();
    const otherMarker = sleeper('someone-else');
    const liveOwners = sleeper('live-owner-marker');
    await waitUntil(() => [mine, stranger, liveOwners].every((pid) => identify(pid)), 2000, 'all started');
    const deadFile = record(4_000_001, { owner: deadOwner, marker: 'dead-owner-marker', groups: [identify(mine)] });
    const liveFile = record(process.pid, { owner: identify(process.pid), marker: 'live-owner-marker', groups: [identify(liveOwners)] });

    const r = await reapLeftovers(config, env);
    expect(r.reaped.sort()).toEqual([mine, forkedByMine].sort());
    expect(r.owners).toBe(1);
    await waitUntil(() => !alive(mine) && !alive(forkedByMine), 2000, 'reaped');
    expect([stranger, otherMarker, liveOwners].every((pid) => alive(pid))).toBe(true);
    expect(existsSync(deadFile)).toBe(false);
    expect(existsSync(liveFile)).toBe(true); // its owner is alive: still in use
  });

  it('reaps by the old format (pid, start time, command line) only while all three match, and deletes that file', async () => {
    const mine = sleeper();
    const reused = sleeper();
    await waitUntil(() => !!identify(mine) && !!identify(reused), 2000, 'both started');
    const legacy = path.join(root, 'run', `${path.basename(childrenFile(config, 0, env)).split('.')[0]}.children.json`);
    writeFileSync(legacy, JSON.stringify([
      { ...identify(mine), cmdline: 'sleep 30' },
      { ...identify(reused), startTime: '1', cmdline: 'sleep 30' },
    ]));
    const r = await reapLeftovers(config, env);
    expect(r.reaped).toEqual([mine]);
    await waitUntil(() => !alive(mine), 2000, 'reaped');
    expect(alive(reused)).toBe(true);
    expect(existsSync(legacy)).toBe(false);
  });
});
