/**
 * Runs a program briefly for a doctor check (argument array, no shell) and returns what it printed.
 * Shared by the built-in technologies; a third-party plugin would write its own three lines.
 */
export async function probe(command: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<{ ok: boolean; out: string; missing: boolean }> {
  // Imported here: the plugins that use it are loaded by every command, which would pay for the module.
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, env: { ...process.env, ...env }, encoding: 'utf8' }, (error, stdout, stderr) => {
      const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      resolve({ ok: !error, out: `${stdout}${stderr}`.trim(), missing });
    });
  });
}
