import { spawn } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { identify, reapOrphans } from '../../../core/daemon/reaper.js';
import { alive, waitUntil } from '../../helpers/procs.js';

describe('orphan reaper', () => {
  it('kills a recorded process only while it is the very same process', async () => {
    const mine = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const stranger = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      await waitUntil(() => identify(mine.pid!)?.cmdline === 'sleep 30' && identify(stranger.pid!)?.cmdline === 'sleep 30', 2000, 'both started');
      const recorded = identify(mine.pid!)!;
      // The stranger's pid, recorded with another start time: a reused pid, someone else's process.
      const reused = { ...identify(stranger.pid!)!, startTime: '1' };
      const gone = { pid: 2 ** 22 - 1, startTime: '1', cmdline: 'ssh -N' };
      const r = await reapOrphans([recorded, reused, gone]);
      expect(r.reaped.map((x) => x.pid)).toEqual([mine.pid]);
      expect(r.foreign).toBe(1);
      expect(r.gone).toBe(1);
      await waitUntil(() => !alive(mine.pid!), 2000, 'reaped');
      expect(alive(stranger.pid!)).toBe(true);
    } finally {
      mine.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });
});
