import type { ServiceLog } from '../log.js';
import type { ExitInfo, ForwardSpec, Logger } from '../types.js';
import { groupAlive, nextTunnelId, OWNER_ENV, ownerMarker, processesMarked, trackChild, TUNNEL_ENV, untrackChild, withParentDeathSignal } from './children.js';
import { Once, type Forward } from './Forward.js';
import { MAX_LINE_BYTES, OutputBudget, readLines } from './lines.js';

/** How long a forward gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 2_000;
const TAIL_LINES = 20;

export interface ForwardProcessContext {
  /**
   * The service's own log: the spawn, every line, what is stopped on the way out, the exit. (A shared
   * connection's process writes to the log of every service on it.)
   */
  log: Pick<ServiceLog, 'line' | 'redactor'>;
  logger: Logger;
  /** The service's name, for messages. */
  service: string;
  /** The technology's type, for messages ("the ssh process exited; …"). */
  technology: string;
  /** LocalPort's own handling of the process failed (reading its output): reported against the service. */
  internalError(where: string, error: unknown): void;
  /** Set in the process's environment besides the spec's own (which service it serves, on which port). */
  env?: Record<string, string>;
}

/**
 * SIGTERM, then SIGKILL once the grace is over, until `alive()` says nothing is left (or a second
 * after the SIGKILL): for what a tunnel left behind, which no exit event announces.
 */
async function terminate(signal: (sig: NodeJS.Signals) => void, alive: () => boolean): Promise<void> {
  signal('SIGTERM');
  const killAt = Date.now() + STOP_GRACE_MS;
  while (alive() && Date.now() < killAt + 1000) {
    if (Date.now() >= killAt) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A forward that is a child process (ssh, kubectl, an `exec` command): spawned from an argument array
 * in a process group of its own, its output read line by line into the service's log, killed as a
 * group. It has ended only once every process of its group, and every descendant that left the group,
 * is gone: a forwarder a wrapper forked can hold the port the next attempt needs. It knows nothing of
 * the service's state; it reports lines and its exit to whoever listens.
 */
export class ForwardProcess implements Forward {
  #pid = -1;
  readonly #tail: string[] = [];
  readonly #lineListeners = new Set<(line: string) => void>();
  readonly #exit = new Once<ExitInfo>((error) => this.ctx.internalError("handling the tunnel's exit", error));
  #child: { kill(signal: NodeJS.Signals): boolean } | undefined;
  /** The leader has exited. */
  #done = false;
  /** …and so has every process of its group. */
  #groupGone = false;
  /** The leader process has exited (its exit event); the rest of the exit may still be under way. */
  readonly #dying = new Once<void>((error) => this.ctx.internalError("handling the tunnel's death", error));
  #exited: Promise<ExitInfo> | undefined;

  constructor(
    readonly spec: ForwardSpec,
    private readonly ctx: ForwardProcessContext,
  ) {}

  get pid(): number | null {
    return this.#child && !this.#exit.happened ? this.#pid : null;
  }

  get tail(): readonly string[] {
    return this.#tail;
  }

  onLine(listener: (line: string) => void): () => void {
    this.#lineListeners.add(listener);
    return () => this.#lineListeners.delete(listener);
  }

  onDying(listener: () => void): () => void {
    return this.#dying.listen(listener);
  }

  onExit(listener: (info: ExitInfo) => void): () => void {
    return this.#exit.listen(listener);
  }

  /** Signals the whole process group: a wrapper's forked forwarder too, even after the wrapper has exited. */
  kill(signal: NodeJS.Signals): void {
    const child = this.#child;
    if (!child || this.#groupGone) return;
    try {
      if (process.platform !== 'win32' && this.#pid > 0) process.kill(-this.#pid, signal);
      else if (!this.#done) child.kill(signal);
    } catch {
      try {
        if (!this.#done) child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  }

  killNow(): void {
    this.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (!this.#exited) return;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(t);
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const { spec, ctx } = this;
    const { execa } = await import('execa');
    const errTail: string[] = [];
    ctx.log.line('localport', `spawn ${[spec.command, ...spec.args].join(' ')}`);
    ctx.logger.debug({ service: ctx.service, command: spec.command, args: spec.args }, 'spawn');
    // Detached: a new process group, so a terminal's Ctrl-C reaches LocalPort, which then stops the
    // tunnel in order, instead of killing the tunnel behind the supervisor's back.
    const wrapped = withParentDeathSignal(spec.command, spec.args);
    // Marks this one tunnel's descendants, even those that leave its process group.
    const tunnelId = nextTunnelId();
    const child = execa(wrapped.command, wrapped.args, {
      // The owner marker is inherited by everything the tunnel forks: how a leftover is proven ours.
      env: { ...spec.env, ...this.ctx.env, [OWNER_ENV]: ownerMarker, [TUNNEL_ENV]: tunnelId },
      extendEnv: true,
      detached: process.platform !== 'win32',
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: false,
    });
    this.#child = child;
    this.#pid = child.pid ?? -1;
    const tail = this.#tail;
    // Whatever the child prints costs bounded memory (lines are cut at MAX_LINE_BYTES) and bounded
    // time (OutputBudget, shared by stdout and stderr).
    const budget = new OutputBudget();
    const logOutput = (stream: 'stdout' | 'stderr' | 'localport', text: string) => {
      budget.spend(text.length);
      const dropped = budget.report();
      if (dropped) ctx.log.line('localport', dropped);
      ctx.log.line(stream, text);
    };
    let warnedCut = false;
    const onLine = (stream: 'stdout' | 'stderr', line: string, cut: boolean) => {
      // A cut may go through a secret: the part kept is redacted here, where the cut is known.
      const text = cut ? `${ctx.log.redactor.cutText(line)} …` : line;
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
      if (stream === 'stderr') {
        errTail.push(text);
        if (errTail.length > TAIL_LINES) errTail.shift();
      }
      logOutput(stream, text);
      if (cut && !warnedCut) {
        warnedCut = true;
        ctx.logger.warn({ service: ctx.service, stream }, `service ${ctx.service} printed a ${stream} line longer than ${MAX_LINE_BYTES} bytes; long lines are cut (see its log)`);
      }
      this.#lineListeners.forEach((l) => l(text));
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      readLines(
        child[stream],
        {
          line: (text, cut) => onLine(stream, text, cut),
          cutEnded: (bytes) => logOutput('localport', `… (${bytes} bytes cut from that ${stream} line: lines are kept up to ${MAX_LINE_BYTES} bytes)`),
        },
        (error) => ctx.internalError(`reading ${stream}`, error),
        budget,
      );
    }
    // The leader's own exit, as the kernel reports it. execa settles only once stdout and stderr close
    // too, which a descendant that left the process group (`setsid`) may never let happen.
    const leaderExit = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (exitCode, signal) => resolve({ exitCode, signal })));
    void leaderExit.then(() => this.#dying.settle());
    const drained = child.then((result) => result);
    const record = { pid: this.#pid, kill: (signal: NodeJS.Signals) => this.kill(signal) };
    this.#exited = (async (): Promise<ExitInfo> => {
      try {
        const first = await Promise.race([drained, leaderExit.then(() => undefined)]);
        this.#done = true;
        // The tunnel has exited only once its whole process group has: a forwarder that a wrapper forked
        // may outlive the wrapper, holding the port the next attempt needs. So has what escaped the group.
        await this.#groupExited();
        await this.#escapedExited(tunnelId);
        this.#groupGone = true;
        untrackChild(record);
        let result = first;
        if (!result) {
          // What is still in the pipes is read; then nothing of the tunnel holds them, or they are let go.
          const letGo = setTimeout(() => [child.stdout, child.stderr].forEach((s) => s?.destroy()), 1000);
          result = await drained;
          clearTimeout(letGo);
        }
        const leader = first ? undefined : await leaderExit;
        const info: ExitInfo = {
          exitCode: leader?.exitCode ?? result.exitCode,
          signal: leader?.signal ?? result.signal,
          output: tail.join('\n'),
          stderr: errTail.join('\n'),
        };
        // Not found: execa's ENOENT, or setpriv's exec failure (it exits 127).
        if ((result as { code?: string }).code === 'ENOENT' || (result.exitCode === 127 && /failed to execute .*No such file/.test(info.output))) {
          info.output = `${spec.command}: command not found`;
          info.exitCode = 127;
        }
        const dropped = budget.report(true);
        if (dropped) ctx.log.line('localport', dropped);
        ctx.log.line('localport', `exit ${info.signal ?? info.exitCode}`);
        return info;
      } catch (error) {
        // LocalPort's own handling failed (not the tunnel): said against the service. The forward counts
        // as ended, so that nobody waits for it forever; what may be left of it is SIGKILLed at exit.
        ctx.internalError("waiting for the tunnel's exit", error);
        return { output: tail.join('\n'), stderr: errTail.join('\n') };
      }
    })();
    void this.#exited.then((info) => {
      this.#dying.settle();
      this.#lineListeners.clear();
      this.#exit.settle(info);
    });
    if (this.#pid > 0) trackChild(record);
  }

  /** What the leader left in its process group gets SIGTERM, then SIGKILL after the stop grace. */
  async #groupExited(): Promise<void> {
    if (process.platform === 'win32' || this.#pid <= 0 || !groupAlive(this.#pid)) return;
    this.ctx.log.line('localport', `the ${this.ctx.technology} process exited; stopping what it left in its process group`);
    await terminate(
      (sig) => this.kill(sig),
      () => groupAlive(this.#pid),
    );
  }

  /**
   * A descendant that left the tunnel's process group (a wrapper that runs its forwarder under `setsid`)
   * is found by the tunnel's marker and stopped like the group: SIGTERM, SIGKILL after the grace.
   */
  async #escapedExited(tunnelId: string): Promise<void> {
    let escaped = processesMarked(TUNNEL_ENV, tunnelId);
    if (escaped.length === 0) return;
    this.ctx.log.line('localport', `stopping ${escaped.length} process${escaped.length === 1 ? '' : 'es'} the ${this.ctx.technology} process started outside its process group`);
    await terminate(
      (sig) =>
        escaped.forEach((pid) => {
          try {
            process.kill(pid, sig);
          } catch {
            /* gone */
          }
        }),
      () => (escaped = processesMarked(TUNNEL_ENV, tunnelId)).length > 0,
    );
  }
}
