import type { ServiceStatus } from '../core/types.js';
import { useColor, withColorEnv } from './terminal.js';

/**
 * The listr2 progress tree both `run` and `start` draw: on stderr (stdout belongs to the command or the
 * summary), animated on a terminal, plain lines otherwise, none for a machine format. listr2 loads only when a tree is drawn.
 */
export async function progressList<T extends { title: string; group?: TaskGroup }>(tasks: T[], tty: boolean, quiet = false) {
  const { Listr, ListrLogger, ProcessOutput } = await withColorEnv(useColor(process.stderr), () => import('listr2'));
  if (tty) tasks = grouped(tasks) as T[];
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr), useIcons: tty });
  return new Listr(tasks as never, {
    concurrent: true,
    exitOnError: false,
    collectErrors: false,
    // listr2's own SIGINT handler exits 127 on the spot: no orderly stop, a stale run-state file.
    // Signals belong to the command that draws the tree.
    registerSignalListeners: false,
    // `quiet`: a machine format (-o json) was asked for; what it reads is the one document at the end.
    renderer: quiet ? 'silent' : tty ? 'default' : 'simple',
    fallbackRenderer: 'simple',
    rendererOptions: { logger, collapseErrors: false },
    fallbackRendererOptions: { logger },
  } as never);
}

/** Which shared connection a service rides on, and whether it is up yet: said after its target. */
export const via = (c: ServiceStatus['connection']) => (!c ? '' : c.pid ? ` via ${c.id} (pid ${c.pid})` : ` — waiting for the shared connection ${c.id}`);

/**
 * A failure of a shared connection fails every service on it with the same words: the tree says them
 * under the first service, and under the others points there (50 services on a bastion that refused the
 * key: one paragraph, not fifty). Returns what to show under `service`.
 */
export function sameFailure(): (service: string, message: string, connection: string | undefined) => string {
  const first = new Map<string, string>();
  return (service, message, connection) => {
    const own = message.startsWith(`service ${service}: `) ? message.slice(`service ${service}: `.length) : message;
    if (!connection) return message;
    const key = `${connection}\0${own}`;
    const seen = first.get(key);
    if (seen === undefined) {
      first.set(key, service);
      return message;
    }
    return `service ${service}: the same failure of the shared connection ${connection} as ${seen} (above)`;
  };
}

/** Services on one shared connection are drawn under a node for it (on a terminal). */
export const treeGroup = (technology: string, group: { key: string; label: string } | undefined): TaskGroup | undefined =>
  group && { key: group.key, title: `shared ${technology} connection ${group.label}` };

/** Services that ride on one shared connection (an ssh master): drawn under one node for it. */
export interface TaskGroup {
  key: string;
  title: string;
}

/**
 * On a terminal, the tasks of a group of two or more become subtasks of one node, in the place of the
 * group's first task; the others stay where they are. Off a terminal the lines stay flat.
 */
function grouped<T extends { group?: TaskGroup }>(tasks: T[]): unknown[] {
  const members = new Map<string, T[]>();
  for (const t of tasks) if (t.group) members.set(t.group.key, [...(members.get(t.group.key) ?? []), t]);
  const out: unknown[] = [];
  const placed = new Set<string>();
  for (const t of tasks) {
    const group = t.group;
    const list = group ? members.get(group.key)! : [];
    if (!group || list.length < 2) {
      out.push(t);
      continue;
    }
    if (placed.has(group.key)) continue;
    placed.add(group.key);
    out.push({
      title: `${group.title} (${list.length} services)`,
      task: (_: unknown, task: { newListr(tasks: unknown[], options?: object): unknown }) =>
        task.newListr(list, { concurrent: true, exitOnError: false, rendererOptions: { collapseSubtasks: false } }),
    });
  }
  return out;
}
