import { renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { privateDirectory } from '../../core/index.js';

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
  /** `doctor --connect`: no known_hosts file is written, not even an extra key or the host's IP. */
  readOnlyKnownHosts?: boolean;
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
  if (c.readOnlyKnownHosts) lines.push('  UpdateHostKeys no', '  CheckHostIP no');
  // Every ssh LocalPort starts is its child and ends with it — a hop too, which reads only this file:
  // never a master of the user's own (ControlMaster/ControlPersist in ~/.ssh/config would leave one
  // logged in after LocalPort exits), never forked into the background. (The command line's own
  // ControlMaster/ControlPath, for LocalPort's shared master, come first and win.) IgnoreUnknown: an
  // OpenSSH older than 8.7 has no ForkAfterAuthentication.
  lines.unshift('IgnoreUnknown ForkAfterAuthentication');
  lines.push('  ControlMaster no', '  ControlPath none', '  ControlPersist no', '  ForkAfterAuthentication no');
  // Included after: for an option set once, ssh keeps the first value it reads, so ours win; an alias's
  // HostName, Port, User and its own IdentityFile still come from there. With -F ssh reads neither of the
  // usual files, hence both here when the service names no ssh_config of its own.
  const includes = c.sshConfig ? [c.sshConfig] : [path.join(home, '.ssh', 'config'), '/etc/ssh/ssh_config'];
  for (const file of includes) lines.push(`  Include ${quotedGlob(file)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * This process's private directory for the files (see privateDirectory), on a plain path: ssh puts
 * `-F FILE` unquoted into the hop's ProxyCommand, which a shell runs.
 */
function privateDir(): string {
  const dir = privateDirectory('f', (d) => SHELL_SAFE.test(d));
  if (dir) return dir;
  throw new Error(`no private directory for ssh's config file: none of $XDG_RUNTIME_DIR, the temp directory, /tmp is writable with a plain path (letters, digits, . _ / + -); set TMPDIR to one`);
}

/**
 * The file holding `text`, written once (0600) and named by its hash, so identical endpoints get the
 * same `-F` path — the same arguments, and so the same shared connection.
 */
export function sshConfigFile(text: string): string {
  const d = privateDir();
  // node:crypto when a tunnel starts, not as the plugin loads: every command loads it (~3 ms on Node 24).
  const { createHash } = process.getBuiltinModule('node:crypto');
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
