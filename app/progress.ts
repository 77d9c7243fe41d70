import { useColor, withColorEnv } from './terminal.js';

/**
 * The listr2 progress tree both `run` and `start` draw: on stderr (stdout belongs to the command or the
 * summary), animated on a terminal, plain lines otherwise, none for a machine format. listr2 loads only when a tree is drawn.
 */
export async function progressList<T>(tasks: T[], tty: boolean, quiet = false) {
  const { Listr, ListrLogger, ProcessOutput } = await withColorEnv(useColor(process.stderr), () => import('listr2'));
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
