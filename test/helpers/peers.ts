import { describe } from '@jest/globals';

/**
 * A test that needs a real peer (sshd, PostgreSQL, kubectl…) skips loudly when the machine lacks
 * it, and fails when CI is set: CI must have installed it (.ci/run does).
 */
export function describeWithPeer(peer: string, available: boolean, name: string, fn: () => void): void {
  if (available) {
    describe(name, fn);
    return;
  }
  const reason = `${peer} is not installed on this machine; run .ci/run as root (or apt-get install the package) to run "${name}"`;
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`CI is set but ${reason}`);
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED: ${reason}\n\n`);
  describe.skip(name, fn);
}

export { SSHD, CURL, CHROMIUM, hasSshd, hasPostgres, hasKcat, hasSocat, hasKubectl, hasCurl, hasChromium } from './peer-bins.js';
