import type { Duplex } from 'node:stream';
import type { ExitExplanation, ExitInfo, FailureClass, StreamForwardSpec } from '../types.js';
import type { Forward } from './Forward.js';

/** How a wait for an in-process forward's readiness ended. */
export type StreamReadiness = { ready: true } | { failed: Required<ExitExplanation> } | { exited: ExitInfo } | { timeout: true } | { aborted: true };

/**
 * An in-process forward (a technology's StreamForwardSpec) as the state machine sees a forward: no
 * process and no output; it "exits" when it is stopped or when the technology reports its upstream
 * lost (`ForwardContext.lost`). The front asks it for one upstream stream per client connection.
 */
export class StreamForward implements Forward {
  readonly pid = null;
  readonly tail: readonly string[] = [];
  #exit: ExitInfo | undefined;
  /** Why it ended, as the technology said (for the state machine's explainExit). */
  #explanation: Required<ExitExplanation> | undefined;
  readonly #exitListeners = new Set<(info: ExitInfo) => void>();
  #closing: Promise<void> | undefined;

  constructor(
    readonly spec: StreamForwardSpec,
    private readonly opts: { internalError(where: string, error: unknown): void; technology: string },
  ) {}

  async start(): Promise<void> {}

  onLine(): () => void {
    return () => {};
  }

  onDying(listener: () => void): () => void {
    return this.onExit(() => listener());
  }

  onExit(listener: (info: ExitInfo) => void): () => void {
    if (this.#exit) {
      listener(this.#exit);
      return () => {};
    }
    this.#exitListeners.add(listener);
    return () => this.#exitListeners.delete(listener);
  }

  /** What `explainExit` says for this forward's end: the technology's reason when it reported one. */
  explain(info: ExitInfo): ExitExplanation | undefined {
    return this.#explanation ?? (info.output ? { message: info.output, failure: 'transient' } : undefined);
  }

  connect(signal: AbortSignal): Promise<Duplex> {
    if (this.#exit) return Promise.reject(new Error('the forward has stopped'));
    return this.spec.connect(signal);
  }

  /** The technology says its upstream is gone: the forward ends, as a process would exit. */
  lost(reason: string, failure: FailureClass = 'transient'): void {
    if (this.#exit) return;
    this.#explanation = { message: reason, failure };
    void this.#end({ output: reason });
  }

  /** Ready when the spec's `ready` resolves, or (without one) when one connection to the upstream opens. */
  async whenReady(signal: AbortSignal, timeoutMs: number): Promise<StreamReadiness> {
    let timer: NodeJS.Timeout | undefined;
    const settled = new AbortController();
    const both = AbortSignal.any([signal, settled.signal]);
    const attempt = (async (): Promise<StreamReadiness> => {
      try {
        if (this.spec.ready) await this.spec.ready(both);
        else (await this.spec.connect(both)).destroy();
        return { ready: true };
      } catch (error) {
        if (signal.aborted) return { aborted: true };
        return { failed: this.#explainError(error as Error) };
      }
    })();
    const timeout = new Promise<StreamReadiness>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), timeoutMs)));
    const exited = new Promise<StreamReadiness>((resolve) => this.onExit((info) => resolve({ exited: info })));
    try {
      return await Promise.race([attempt, timeout, exited]);
    } finally {
      clearTimeout(timer);
      settled.abort();
    }
  }

  #explainError(error: Error): Required<ExitExplanation> {
    let explained: string | ExitExplanation | undefined;
    try {
      explained = this.spec.explainError?.(error);
    } catch (e) {
      this.opts.internalError(`explainError of technology ${this.opts.technology}`, e);
    }
    if (typeof explained === 'string' && explained) return { message: explained, failure: 'permanent' };
    if (explained && typeof explained === 'object' && explained.message) return { message: explained.message, failure: explained.failure ?? 'permanent' };
    const code = (error as NodeJS.ErrnoException).code;
    return { message: `${this.opts.technology}: ${error.message}${code && !error.message.includes(code) ? ` (${code})` : ''}`, failure: 'transient' };
  }

  stop(): Promise<void> {
    return this.#end({ exitCode: 0, output: '' });
  }

  killNow(): void {
    void this.#end({ exitCode: 0, output: '' });
  }

  #end(info: ExitInfo): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.spec.close?.();
      } catch (error) {
        this.opts.internalError(`close of technology ${this.opts.technology}`, error);
      }
      this.#exit = info;
      const listeners = [...this.#exitListeners];
      this.#exitListeners.clear();
      for (const l of listeners) l(info);
    })();
    return this.#closing;
  }
}
