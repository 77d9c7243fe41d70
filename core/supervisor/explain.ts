import type { ExitExplanation, ExitInfo } from '../types.js';

/**
 * Why a process ended, in its technology's words (`explain`, a ForwardSpec's explainExit) or else how it
 * ended and its last stderr line, named `what` ("ssh process", "the shared ssh connection"). A plain
 * string is the original contract: a failure with no class, treated as permanent. An `explain` that
 * throws is a plugin's bug, reported through `onError`; the fallback is said instead.
 */
export function explainExit(explain: ((info: ExitInfo) => string | ExitExplanation | undefined) | undefined, info: ExitInfo, what: string, onError: (error: unknown) => void): Required<ExitExplanation> {
  let explained: string | ExitExplanation | undefined;
  try {
    explained = explain?.(info);
  } catch (error) {
    onError(error);
  }
  if (typeof explained === 'string' && explained) return { message: explained, failure: 'permanent' };
  if (explained && typeof explained === 'object' && explained.message) return { message: explained.message, failure: explained.failure ?? 'permanent' };
  const how = info.signal ? `was killed by ${info.signal}` : `exited with code ${info.exitCode}`;
  const last = info.stderr?.trim().split('\n').filter(Boolean).pop();
  return { message: `${what} ${how}${last ? `: ${last}` : ''}`, failure: 'permanent' };
}
