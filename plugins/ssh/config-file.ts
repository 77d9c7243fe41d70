import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The ssh_config file LocalPort hands to ssh with `-F`. It exists for jump hosts: ssh starts a second
 * ssh for each ProxyJump hop and passes it only -l, -p, -J and -F from its own command line (ssh.c),
 * so an `-i`, `-o UserKnownHostsFile` or `-o StrictHostKeyChecking` given there would reach the final
 * host and not the hop. Written into a file, under `Host *`, they reach both. The file then includes
 * what ssh would have read without `-F`: the service's `ssh_config`, else ~/.ssh/config and the system
 * file, so aliases and the user's own settings keep working.
 *
 * Always used, not only with `jump_host`: a hop can also come from the user's ssh_config (ProxyJump
 * there), which LocalPort does not parse, and one way of passing the options is one behaviour to test.
 */
export interface SshConfigFileInput {
  keyFile?: string;
  knownHostsFile?: string;
  strictHostKeyChecking: string;
  connectTimeout: number;
  /** The service's own ssh_config, already an absolute path. */
  sshConfig?: string;
}

/** What ssh passes through the ProxyCommand shell it builds for ProxyJump (`-F FILE` goes in unquoted). */
const SHELL_SAFE = /^[A-Za-z0-9_./+-]+$/;

/** Why a path cannot be written into an ssh_config line, or undefined. Used by the schema, so the user sees it at validation. */
export function unusablePath(p: string, include = false): string | undefined {
  if (/[\r\n\0]/.test(p)) return 'must be a single line';
  if (p.includes('"')) return 'must not contain a double quote: ssh_config has no way to write one inside a quoted path';
  if (p.includes('${')) return 'must not contain "${": ssh reads it as an environment variable, with no way to escape it';
  // Include paths are expanded by some OpenSSH versions (9.4+) and not by others: no escape works for both.
  if (include && p.includes('%')) return 'must not contain "%": OpenSSH versions disagree on whether it is a token here';
  return undefined;
}

/** A file path as an ssh_config argument: quoted, `\` escaped for the line parser, `%` for token expansion. */
const quoted = (p: string) => `"${p.replace(/\\/g, '\\\\').replace(/%/g, '%%')}"`;
/** An `Include` argument: glob characters escaped for glob(3), then `\` for the line parser. */
const quotedGlob = (p: string) => `"${p.replace(/[\\*?[]/g, (c) => `\\${c}`).replace(/\\/g, '\\\\')}"`;

export function sshConfigText(c: SshConfigFileInput, home = os.homedir()): string {
  const lines = [
    '# Written by LocalPort: ssh -F passes this file on to the ssh of every ProxyJump hop, so the hop',
    '# uses the same identity, known_hosts file and host key checking as the final host.',
    'Host *',
  ];
  if (c.keyFile) lines.push(`  IdentityFile ${quoted(c.keyFile)}`);
  if (c.knownHostsFile) lines.push(`  UserKnownHostsFile ${quoted(c.knownHostsFile)}`);
  lines.push(`  StrictHostKeyChecking ${c.strictHostKeyChecking}`, '  BatchMode yes', `  ConnectTimeout ${c.connectTimeout}`);
  // Included after: for an option set once, ssh keeps the first value it reads, so ours win; an alias's
  // HostName, Port, User and its own IdentityFile still come from there. With -F ssh reads neither of the
  // usual files, hence both here when the service names no ssh_config of its own.
  const includes = c.sshConfig ? [c.sshConfig] : [path.join(home, '.ssh', 'config'), '/etc/ssh/ssh_config'];
  for (const file of includes) lines.push(`  Include ${quotedGlob(file)}`);
  return `${lines.join('\n')}\n`;
}

const PREFIX = 'localport-f';
const OURS = /^localport-f(\d+)-[A-Za-z0-9]{6}$/;
let dir: string | undefined;
let cleanup = false;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The directories of LocalPort processes that were killed before their exit handler ran. */
function removeLeftovers(base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of entries) {
    const m = OURS.exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      const st = lstatSync(path.join(base, name));
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(path.join(base, name), { recursive: true, force: true });
    } catch {
      /* gone meanwhile, or not ours */
    }
  }
}

/**
 * A directory of this process's own (mkdtemp: 0700, a fresh random name nobody can have planted),
 * removed at exit. Made again if it vanished (a runtime directory removed at logout, a tmp cleaner):
 * a restart of a tunnel days later must still find its file.
 */
function privateDir(): string {
  if (dir) {
    try {
      if (statSync(dir).isDirectory()) return dir;
    } catch {
      /* vanished */
    }
    dir = undefined;
  }
  const bases = [process.env.XDG_RUNTIME_DIR, os.tmpdir(), '/tmp'].filter((b): b is string => !!b && path.isAbsolute(b) && SHELL_SAFE.test(b));
  for (const base of bases) {
    try {
      const made = mkdtempSync(path.join(base, `${PREFIX}${process.pid}-`));
      if (!SHELL_SAFE.test(made)) {
        rmSync(made, { recursive: true, force: true });
        continue;
      }
      removeLeftovers(base);
      dir = made;
      if (!cleanup) {
        cleanup = true;
        process.once('exit', () => dir && rmSync(dir, { recursive: true, force: true }));
      }
      return made;
    } catch {
      /* not writable: the next base */
    }
  }
  throw new Error(`no private directory for ssh's config file: none of ${bases.join(', ') || '$XDG_RUNTIME_DIR, the temp directory, /tmp'} is writable with a plain path; set TMPDIR to one`);
}

/**
 * The file holding `text`, written once (0600) and named by its hash, so identical endpoints get the
 * same `-F` path — the same arguments, and so the same shared connection.
 */
export function sshConfigFile(text: string): string {
  const d = privateDir();
  const file = path.join(d, `${createHash('sha256').update(text).digest('hex').slice(0, 16)}.conf`);
  try {
    if (statSync(file).isFile()) return file;
  } catch {
    /* not written yet */
  }
  // Written aside and renamed: an ssh starting now reads the whole file or none.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}
