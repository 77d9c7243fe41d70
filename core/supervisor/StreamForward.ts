import net from 'node:net';
import { types } from 'node:util';
import { Duplex } from 'node:stream';
import { LocalPortError, PluginError } from '../errors.js';
import type { ConnectOptions, ExitExplanation, ExitInfo, FailureClass, StreamForwardSpec } from '../types.js';
import { Once, type Forward } from './Forward.js';

/** How long a technology's close() may take before the forward counts as stopped anyway. */
const CLOSE_GRACE_MS = 2000;

/** An Error from any realm (Node's own errors are not `instanceof` a test sandbox's Error). */
const isError = (e: unknown): e is Error => e instanceof Error || types.isNativeError(e);

/** A connected duplex stream, as the relay needs it: readable and writable, with pipe and destroy. */
const isDuplex = (s: unknown): s is Duplex =>
  s instanceof Duplex || (!!s && typeof s === 'object' && ['pipe', 'on', 'write', 'end', 'destroy', 'resume', 'pause'].every((m) => typeof (s as Record<string, unknown>)[m] === 'function'));

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
  readonly #exit = new Once<ExitInfo>((error) => this.opts.internalError(`the end of technology ${this.opts.technology}'s forward`, error));
  /** Why it ended, as the technology said (for the state machine's explainExit). */
  #explanation: Required<ExitExplanation> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    readonly spec: StreamForwardSpec,
    private readonly opts: {
      internalError(where: string, error: unknown): void;
      technology: string;
      /** The plugin that registered the technology: named when it breaks the contract. */
      plugin: string;
      /** Whether an address is one LocalPort itself listens on (a target there would relay to itself). */
      isOwnAddress?(host: string, port: number): boolean;
    },
  ) {}

  async start(): Promise<void> {}

  onLine(): () => void {
    return () => {};
  }

  onDying(listener: () => void): () => void {
    return this.onExit(() => listener());
  }

  onExit(listener: (info: ExitInfo) => void): () => void {
    return this.#exit.listen(listener);
  }

  /** What `explainExit` says for this forward's end: the technology's reason when it reported one. */
  explain(info: ExitInfo): ExitExplanation | undefined {
    return this.#explanation ?? (info.output ? { message: info.output, failure: 'transient' } : undefined);
  }

  /**
   * One upstream stream from the technology, checked: a plugin that throws instead of rejecting, or
   * resolves with something that is not a stream, has a bug (named, with its plugin); a socket that
   * leads back to one of LocalPort's own listeners is a loop (ELOOP), never relayed.
   */
  async connect(signal: AbortSignal, opts?: ConnectOptions): Promise<Duplex> {
    if (this.#exit.happened) throw Object.assign(new Error('the forward has stopped'), { code: 'ECONNREFUSED' });
    let pending: Promise<Duplex>;
    try {
      pending = opts ? this.spec.connect(signal, opts) : this.spec.connect(signal);
    } catch (error) {
      throw new PluginError(this.opts.plugin, `technology '${this.opts.technology}' connect()`, error);
    }
    let stream: unknown;
    try {
      stream = await pending;
    } catch (error) {
      // A refusal, a timeout, an unknown host: the upstream's answer, as an Error with a code. Anything
      // else thrown (a string, null) is the plugin's bug.
      if (isError(error)) throw error;
      throw new PluginError(this.opts.plugin, `technology '${this.opts.technology}' connect()`, new Error(`rejected with ${error === null ? 'null' : typeof error} instead of an Error`));
    }
    if (!isDuplex(stream)) {
      throw new PluginError(this.opts.plugin, `technology '${this.opts.technology}' connect()`, new LocalPortError('PLUGIN_CONTRACT', `resolved with ${stream === null ? 'null' : typeof stream} instead of a connected duplex stream`));
    }
    if (stream.destroyed) throw Object.assign(new Error('the stream was closed before it was used'), { code: 'ECONNRESET' });
    if (stream instanceof net.Socket && stream.remoteAddress && stream.remotePort && this.opts.isOwnAddress?.(stream.remoteAddress, stream.remotePort)) {
      stream.destroy();
      throw Object.assign(new Error(`${stream.remoteAddress}:${stream.remotePort} is one of LocalPort's own listeners`), { code: 'ELOOP' });
    }
    return stream;
  }

  /** The technology says its upstream is gone: the forward ends, as a process would exit. */
  lost(reason: string, failure: FailureClass = 'transient'): void {
    if (this.#exit.happened) return;
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
        else (await this.connect(both)).destroy();
        return { ready: true };
      } catch (error) {
        if (signal.aborted) return { aborted: true };
        return { failed: this.#explainError(error) };
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

  #explainError(thrown: unknown): Required<ExitExplanation> {
    if (thrown instanceof PluginError) return { message: thrown.message, failure: 'permanent' };
    const error = isError(thrown) ? thrown : new Error(`rejected with ${thrown === null ? 'null' : typeof thrown === 'string' ? JSON.stringify(thrown) : typeof thrown} instead of an Error`);
    const code = (error as NodeJS.ErrnoException).code;
    // A loop is LocalPort's to name, whatever the technology makes of the error.
    if (code === 'ELOOP') return { message: `${error.message}: the service would relay to itself; point it at the real server`, failure: 'permanent' };
    let explained: string | ExitExplanation | undefined;
    try {
      explained = this.spec.explainError?.(error);
    } catch (e) {
      this.opts.internalError(`explainError of technology ${this.opts.technology} (plugin ${this.opts.plugin})`, e);
    }
    if (typeof explained === 'string' && explained) return { message: explained, failure: 'permanent' };
    if (explained && typeof explained === 'object' && explained.message) return { message: explained.message, failure: explained.failure ?? 'permanent' };
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
      // A close that never settles must not hold a stop, a restart or an idle stop forever.
      let timer: NodeJS.Timeout | undefined;
      try {
        const closing = Promise.resolve(this.spec.close?.());
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS)));
        if ((await Promise.race([closing, late])) === 'late') {
          this.opts.internalError(`close of technology ${this.opts.technology} (plugin ${this.opts.plugin})`, new Error(`did not finish within ${CLOSE_GRACE_MS / 1000} s; the forward counts as stopped`));
        }
      } catch (error) {
        this.opts.internalError(`close of technology ${this.opts.technology} (plugin ${this.opts.plugin})`, error);
      } finally {
        clearTimeout(timer);
      }
      this.#exit.settle(info);
    })();
    return this.#closing;
  }
}
