import { existsSync, readdirSync } from 'node:fs';

/** Where the real peers live on Debian. No jest import here: bench/ uses these too. */
export const SSHD = '/usr/sbin/sshd';
export const hasSshd = existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen');

/** The newest Debian PostgreSQL server binaries on the machine, if any. */
export const PG_BIN = (() => {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => existsSync(`${base}/${v}/bin/initdb`) && existsSync(`${base}/${v}/bin/postgres`));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length ? `${base}/${versions[0]}/bin` : undefined;
})();
export const hasPostgres = PG_BIN !== undefined;

export const KCAT = ['/usr/bin/kcat', '/usr/local/bin/kcat'].find((p) => existsSync(p));
export const hasKcat = KCAT !== undefined;

export const hasSocat = ['/usr/bin/socat', '/usr/local/bin/socat'].some((p) => existsSync(p));

/** A client program other than Node: what a user types to check a forwarded port. */
export const CURL = ['/usr/bin/curl', '/usr/local/bin/curl'].find((p) => existsSync(p));
export const hasCurl = CURL !== undefined;

/** The real kubectl (on this machine image: Google Cloud SDK's dispatcher, which picks 1.27–1.33 by server). */
export const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
export const hasKubectl = KUBECTL !== undefined;

/** Debian's Chromium, which the dashboard's test drives with playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
