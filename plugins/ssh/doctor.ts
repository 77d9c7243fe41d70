import { lookup } from 'node:dns/promises';
import { constants, promises as fs } from 'node:fs';
import type { DoctorCheck, DoctorOptions, ServiceDefinition } from '../../core/index.js';
import { probe } from '../probe.js';
import { endpointArgs as sshEndpointArgs, expandHome, explainSshExit, type SshConnection } from './index.js';
import { addHostKey } from './explain.js';


/**
 * The options that decide where and as whom ssh connects, as `sshArgs` passes them (without the
 * forward and its readiness command), so `ssh -G` and the `--connect` login see what a run would.
 */
function endpointArgs(c: SshConnection, readOnlyKnownHosts = false): string[] {
  const args: string[] = [];
  const o = (k: string, v: string | number) => args.push('-o', `${k}=${v}`);
  o('BatchMode', 'yes');
  o('StrictHostKeyChecking', c.strictHostKeyChecking);
  o('ConnectTimeout', c.connectTimeout);
  args.push(...sshEndpointArgs(c, readOnlyKnownHosts));
  return args;
}

/** A `-J` hop, `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
function parseJump(spec: string): { spec: string; host: string; port?: number } | undefined {
  const m = /^(?:ssh:\/\/)?(?:[^@]+@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(spec);
  if (!m) return undefined;
  return { spec, host: m[1].replace(/^\[(.*)\]$/, '$1'), port: m[2] ? Number(m[2]) : undefined };
}

/** `ssh -G` output: one `key value…` line per option, keys lower-case. */
function parseG(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0 && !m.has(line.slice(0, i))) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

const mode = (n: number) => `0${(n & 0o777).toString(8)}`;

async function keyCheck(name: string, keyFile: string): Promise<DoctorCheck> {
  const file = expandHome(keyFile);
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    return { name, ok: false, required: true, detail: `${file} does not exist; fix connection.key_file, or create a key with ssh-keygen -t ed25519 -f ${file} and add ${file}.pub to the server's authorized_keys` };
  }
  if (!st.isFile()) return { name, ok: false, required: true, detail: `${file} is not a file; connection.key_file must name the private key` };
  const uid = process.getuid?.();
  // ssh itself refuses a key it owns that group or others can read ("UNPROTECTED PRIVATE KEY FILE").
  if (uid !== undefined && st.uid === uid && st.mode & 0o077) {
    return { name, ok: false, required: true, detail: `${file} has mode ${mode(st.mode)}: ssh refuses a private key others can read; run chmod 600 ${file}` };
  }
  try {
    await fs.access(file, constants.R_OK);
  } catch {
    return { name, ok: false, required: true, detail: `${file} is not readable by you (owner uid ${st.uid}, mode ${mode(st.mode)}); run chown $(id -u) ${file} && chmod 600 ${file}` };
  }
  if (uid !== undefined && st.uid !== uid) {
    // ssh uses a key someone else owns without a word, but that someone can read or replace it.
    return { name, ok: false, required: false, detail: `${file} is owned by uid ${st.uid}, not you (uid ${uid}); run chown $(id -u) ${file} && chmod 600 ${file}` };
  }
  // BatchMode ssh cannot ask for a passphrase: such a key works only from ssh-agent. An empty
  // passphrase decrypts an unprotected key and fails on a protected one, without a prompt.
  const open = await probe('ssh-keygen', ['-y', '-P', '', '-f', file]);
  if (!open.ok && /passphrase/i.test(open.out)) {
    return {
      name,
      ok: false,
      required: false,
      detail: `${file} is protected by a passphrase, which LocalPort's non-interactive ssh cannot type; load it into ssh-agent with ssh-add ${file} before starting`,
    };
  }
  if (!open.ok && !open.missing) return { name, ok: false, required: true, detail: `${file} is not a private key ssh can read (${open.out.split('\n')[0]}); fix connection.key_file` };
  return { name, ok: true, required: true, detail: `${file} (mode ${mode(st.mode)})` };
}

/** A file the connection names: there, a regular file, readable. */
async function fileCheck(name: string, file: string, key: string): Promise<DoctorCheck> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return { name, ok: false, required: true, detail: `${file} is not a file; fix ${key} (a relative path is relative to the config file's directory)` };
    await fs.access(file, constants.R_OK);
    return { name, ok: true, required: true, detail: file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by you' : `cannot be read (${code})`;
    return { name, ok: false, required: true, detail: `${file} ${what}; fix ${key} (a relative path is relative to the config file's directory)` };
  }
}

/** One host, port, user, key and option set: services that share them share their checks. */
interface Endpoint {
  label: string;
  service: ServiceDefinition<SshConnection>;
  names: string[];
}

function endpoints(services: ServiceDefinition<SshConnection>[]): Endpoint[] {
  const by = new Map<string, Endpoint>();
  for (const s of services) {
    const c = s.connection;
    const key = JSON.stringify([c.host, c.port, c.user, c.keyFile, c.knownHostsFile, c.sshConfig, c.jumpHost, c.strictHostKeyChecking, c.connectTimeout, c.options]);
    const e = by.get(key);
    if (e) e.names.push(s.name);
    else by.set(key, { label: `${c.user ? `${c.user}@` : ''}${c.host}${c.port ? `:${c.port}` : ''}`, service: s, names: [s.name] });
  }
  return [...by.values()];
}

/**
 * The ssh checks `localport doctor` runs per endpoint: key file, host resolution through `ssh -G` (so
 * ~/.ssh/config aliases count), its key in known_hosts, and with `connect` one real login. Nothing here
 * opens a TCP connection to sshd without authenticating: OpenSSH 9.8+ penalises sources that do.
 */
export async function sshDoctor(bin: string, services: ServiceDefinition<SshConnection>[], options: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const v = await probe(bin, ['-V']);
  if (v.missing) return [{ name: `binary ${bin}`, check: 'binary', subject: bin, ok: false, required: true, detail: 'not found; install the OpenSSH client' }];
  checks.push({ name: `binary ${bin}`, check: 'binary', subject: bin, ok: v.ok, required: true, detail: v.out.split('\n')[0] });
  const perEndpoint = await Promise.all(endpoints(services).map((e) => endpointChecks(bin, e, options)));
  return checks.concat(...perEndpoint);
}

/** An endpoint's checks, each also in a script's fields: its name after `who: `, the endpoint, the services. */
async function endpointChecks(bin: string, e: Endpoint, options: DoctorOptions): Promise<DoctorCheck[]> {
  const who = `${e.label} (${e.names.join(', ')})`;
  const checks = await endpointChecksOf(bin, e, who, options);
  return checks.map((k) => ({ ...k, check: k.check ?? k.name.slice(who.length + 2), subject: e.label, services: e.names }));
}

async function endpointChecksOf(bin: string, e: Endpoint, who: string, options: DoctorOptions): Promise<DoctorCheck[]> {
  const c = e.service.connection;
  const checks: DoctorCheck[] = [];
  // The paths as core resolved them (relative to the config file that set them), the ones ssh will open.
  if (c.keyFile) checks.push(await keyCheck(`${who}: key_file`, c.keyFile));
  if (c.sshConfig) {
    const check = await fileCheck(`${who}: ssh_config`, expandHome(c.sshConfig), 'connection.ssh_config');
    checks.push(check);
    // ssh would stop at the same point, with a less clear message.
    if (!check.ok) return checks;
  }
  if (c.knownHostsFile && c.strictHostKeyChecking === 'yes') {
    const check = await fileCheck(`${who}: known_hosts_file`, expandHome(c.knownHostsFile), 'connection.known_hosts_file');
    if (!check.ok) checks.push(check);
  }

  const g = await probe(bin, [...endpointArgs(c), '-G', '--', c.host]);
  if (!g.ok) {
    checks.push({ name: `${who}: host`, ok: false, required: true, detail: `ssh -G ${c.host} failed: ${g.out.split('\n')[0]}; fix your ssh config (${c.sshConfig ?? '~/.ssh/config'}) or connection.options` });
    return checks;
  }
  const cfg = parseG(g.out);
  const host = cfg.get('hostname') ?? c.host;
  const port = Number(cfg.get('port') ?? 22);
  const via = cfg.get('proxyjump') ?? cfg.get('proxycommand');
  const alias = host === c.host ? '' : ` (${c.host} in your ssh config)`;
  let resolves = true;
  if (via && via !== 'none') {
    checks.push({ name: `${who}: host`, ok: true, required: true, detail: `${host}${alias} is reached through ${via}, which resolves it` });
  } else {
    try {
      const a = await lookup(host);
      checks.push({ name: `${who}: host`, ok: true, required: true, detail: `${host}${alias} resolves to ${a.address}` });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      resolves = false;
      checks.push({
        name: `${who}: host`,
        ok: false,
        required: true,
        detail: `${host}${alias} does not resolve (${code}); check connection.host, or add a Host ${c.host} entry with its HostName to ${c.sshConfig ?? '~/.ssh/config'}`,
      });
    }
  }

  checks.push(await knownHostsCheck(`${who}: known_hosts`, c, cfg, host, port, !!c.jumpHost));
  // The first jump host is checked against the same file, as ssh will (its key is known_hosts' business
  // too: LocalPort's -F file gives the hop the service's known_hosts_file and strictness).
  const hop = c.jumpHost ? parseJump(c.jumpHost.split(',')[0]) : undefined;
  if (hop) {
    const hg = await probe(bin, [...endpointArgs(c).filter((_, i, a) => a[i] === '-F' || a[i - 1] === '-F'), ...(hop.port ? ['-p', String(hop.port)] : []), '-G', '--', hop.host]);
    if (hg.ok) {
      const hcfg = parseG(hg.out);
      checks.push({ ...(await knownHostsCheck(`${who}: known_hosts (jump host ${hop.spec})`, c, hcfg, hcfg.get('hostname') ?? hop.host, Number(hcfg.get('port') ?? 22), false)), check: 'jump_host_known_hosts' });
    }
  }

  // A name that does not resolve has already said what to do; a login would only repeat it.
  if (options.connect && resolves) {
    // A real login that runs `true`: no forward, none of the user's LocalForward lines, no tty. A
    // diagnostic changes no file: strict host key checking (accept-new would record an unknown key,
    // unchecked, right after the known_hosts check said to check it first), no key updates, no IPs
    // added; for the jump hosts too, through the -F file.
    const args = [...endpointArgs({ ...c, strictHostKeyChecking: 'yes' }, true), '-T', '-o', 'ClearAllForwardings=yes', '-o', 'PermitLocalCommand=no', '--', c.host, 'true'];
    const r = await probe(bin, args, undefined, (c.connectTimeout + 15) * 1000);
    const unknownKey = /No \S+ host key is known for (\S+) and you have requested strict checking/.exec(r.out)?.[1];
    if (r.ok) checks.push({ name: `${who}: connect`, ok: true, required: true, detail: `logged in as ${cfg.get('user') ?? c.user ?? '?'} and ran true` });
    else if (unknownKey && c.strictHostKeyChecking !== 'yes') {
      // Not a failure of the login: the known_hosts check above says which key is missing and how to add it.
      checks.push({
        name: `${who}: connect`,
        ok: false,
        required: false,
        detail: `not tried: the host key of ${unknownKey} is not in known_hosts yet, and doctor adds none (a run would, unchecked, with strict_host_key_checking ${c.strictHostKeyChecking}); add it as the known_hosts check says, then run doctor --connect again`,
      });
    } else {
      const last = (r.out.split('\n').filter(Boolean).pop() ?? 'no output').replace(/^ssh: /, '');
      const explained = explainSshExit(e.service, { exitCode: 255, output: r.out });
      checks.push({ name: `${who}: connect`, ok: false, required: true, detail: explained ? `${explained.message} (ssh: ${last})` : `ssh failed: ${last}` });
    }
  }
  return checks;
}

async function knownHostsCheck(name: string, c: SshConnection, cfg: Map<string, string>, host: string, port: number, behindJump: boolean): Promise<DoctorCheck> {
  const keyHost = cfg.get('hostkeyalias') && cfg.get('hostkeyalias') !== 'none' ? cfg.get('hostkeyalias')! : host;
  const entry = port === 22 ? keyHost : `[${keyHost}]:${port}`;
  const user = c.knownHostsFile ? [expandHome(c.knownHostsFile)] : (cfg.get('userknownhostsfile') ?? '~/.ssh/known_hosts').split(/\s+/).map(expandHome);
  const global = (cfg.get('globalknownhostsfile') ?? '').split(/\s+/).filter(Boolean);
  for (const file of [...user, ...global]) {
    const r = await probe('ssh-keygen', ['-F', entry, '-f', file]);
    if (r.missing) return { name, ok: false, required: false, detail: 'ssh-keygen not found, cannot look up known_hosts; install the OpenSSH client' };
    if (r.ok && r.out.trim()) return { name, ok: true, required: true, detail: `${entry} is in ${file}` };
  }
  const file = user[0];
  // The final host behind a jump host is scanned from the jump host; the jump host itself, from here.
  const fix = `add it safely: ${addHostKey(c, keyHost, port, file, behindJump)}`;
  // With accept-new (the default) ssh records the key on first contact, unchecked: worth knowing, not fatal.
  const strict = c.strictHostKeyChecking === 'yes';
  return {
    name,
    ok: false,
    required: strict,
    detail: strict
      ? `no key for ${entry} in ${user.join(' ')}, and strict_host_key_checking is yes, so ssh will refuse to connect; ${fix}`
      : `no key for ${entry} in ${user.join(' ')}; strict_host_key_checking ${c.strictHostKeyChecking} will trust whatever key the server shows first; to check it instead, ${fix}`,
  };
}
