import { readlinkSync } from 'node:fs';
import { runCli } from './cli.js';
import { processes } from './procs.js';

/** A test project: a directory holding a config, and the environment its CLI runs with. */
export interface TestProject {
  dir: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Stops each project's daemon through the CLI, then SIGKILLs by PID whatever still runs from its
 * directory (a test that failed half-way may have left tunnels). Empties the list.
 */
export async function stopProjects(projects: TestProject[]): Promise<void> {
  for (const { dir, env } of projects.splice(0)) {
    await runCli(['daemon', 'stop'], { cwd: dir, env });
    for (const p of processes().filter((p) => p.cmd.includes(dir))) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** Daemon processes working for the project in `dir` (a daemon runs in its config's directory). */
export const daemonsIn = (dir: string): number[] =>
  processes()
    // Titled, or still starting up (the title is set once its modules have loaded).
    .filter((p) => p.cmd.startsWith('localport-daemon') || /daemon\/main\.js --config /.test(p.cmd))
    .filter((p) => {
      try {
        return readlinkSync(`/proc/${p.pid}/cwd`) === dir;
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
