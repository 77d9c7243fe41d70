/**
 * Every tunnel process alive in this LocalPort process. When LocalPort exits for any reason,
 * whatever is still here gets SIGKILL, so no child outlives it (short of LocalPort itself being
 * SIGKILLed, which no process can intercept).
 */
export const children = new Set<{ kill(signal: NodeJS.Signals): void }>();

let installed = false;
export function installExitReaper(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
}
