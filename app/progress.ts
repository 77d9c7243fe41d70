import type { ServiceStatus } from '../core/types.js';
import { useColor, withColorEnv } from './terminal.js';

/**
 * The listr2 progress tree both `run` and `start` draw: on stderr (stdout belongs to the command or the
 * summary), animated on a terminal, plain lines otherwise, none for a machine format. listr2 loads only when a tree is drawn.
 */
export async function progressList<T extends { title: string; group?: TaskGroup }>(tasks: T[], tty: boolean, quiet = false): Promise<{ run(): Promise<unknown> }> {
  const { Listr, ListrLogger, ListrLogLevels, ListrDefaultRendererLogLevels, ProcessOutput, figures } = await withColorEnv(useColor(process.stderr), () => import('listr2'));
  if (tty) tasks = grouped(tasks) as T[];
  const output = () => new ProcessOutput(process.stderr, process.stderr);
  const logger = new ListrLogger({ processOutput: output(), useIcons: tty });
  /**
   * Off a terminal, listr2 prints a failure as `[FAILED] TITLE [FAILED: REASON]`: the label twice, and
   * the service's name twice when the reason names it. One label, one name: `[FAILED] service api: REASON`.
   */
  class PlainLogger extends ListrLogger {
    override log(level: string, message: string, options?: { suffix?: unknown }): void {
      const suffix = options?.suffix as { field?: unknown } | undefined;
      const field = typeof suffix?.field === 'string' ? suffix.field : undefined;
      if ((level === ListrLogLevels.FAILED || level === ListrLogLevels.SKIPPED) && field?.startsWith(`${level}: `)) return super.log(level, outcomeLine(message, field.slice(level.length + 2)));
      super.log(level, message, options as never);
    }
  }
  const plain = new PlainLogger({ processOutput: output(), useIcons: tty });
  const list = new Listr(tasks as never, {
    concurrent: true,
    exitOnError: false,
    collectErrors: false,
    // listr2's own SIGINT handler exits 127 on the spot: no orderly stop, a stale run-state file.
    // Signals belong to the command that draws the tree.
    registerSignalListeners: false,
    // `quiet`: a machine format (-o json) was asked for; what it reads is the one document at the end.
    renderer: quiet ? 'silent' : tty ? 'default' : 'simple',
    fallbackRenderer: 'simple',
    // A failed node with steps under it: listr2 marks it `❯`, as one still running; without colour
    // the two look alike. It gets the failure's own mark.
    rendererOptions: tty ? { logger, collapseErrors: false, icon: { [ListrDefaultRendererLogLevels.FAILED_WITH_FAILED_SUBTASKS]: figures.cross } } : { logger: plain },
    fallbackRendererOptions: { logger: plain },
  } as never);
  return {
    // Once the tree has ended, nothing draws it again: listr2 redraws the whole frame on any title
    // change, and after its last frame (printed below the live one, which it cleared) a late change (a
    // poll that was already under way) printed the tree a second time under the first.
    run: () => list.run().finally(() => list.events.complete()),
  };
}

/**
 * One line for a task that failed or was skipped, off a terminal: the reason, as every other output says
 * it, when it names the subject of the title (`api` of `api: 127.0.0.1:80`); else the subject, then it.
 */
export function outcomeLine(title: string, reason: string): string {
  const colon = title.indexOf(': ');
  const subject = colon > 0 ? title.slice(0, colon) : title;
  return reason.startsWith(`service ${subject}: `) || reason.startsWith(`${subject}: `) ? reason : `${subject}: ${reason}`;
}

/** Which shared connection a service rides on, and whether it is up yet: said after its target. */
export const via = (c: ServiceStatus['connection']) => (!c ? '' : c.pid ? ` via ${c.id} (pid ${c.pid})` : ` — waiting for the shared connection ${c.id}`);

/** One service's steps under its node on a terminal. */
export type Step = 'connect' | 'listen' | 'health';

/**
 * A step's title once it has failed: what failed, not what it was waiting for (a connect step that
 * waited for a shared connection that then failed says the connection it was on).
 */
export function failedStep(step: Step, s: { target: string; where: string; connection?: string; check: string; attempts?: number }): string {
  if (step === 'connect') return `could not connect to ${s.target}${s.connection ? ` (shared connection ${s.connection})` : ''}`;
  if (step === 'listen') return `could not listen on ${s.where}`;
  return `health: ${s.check} failed${s.attempts ? ` (${s.attempts} attempt${s.attempts === 1 ? '' : 's'})` : ''}`;
}

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
