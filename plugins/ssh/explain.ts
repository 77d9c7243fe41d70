import type { ExitExplanation } from '../../core/index.js';

/** What explainSshOutput needs of the service's connection. */
export interface ExplainTarget {
  host: string;
  port?: number;
  user?: string;
  jumpHost?: string;
  keyFile?: string;
  knownHostsFile?: string;
  strictHostKeyChecking: string;
}

/**
 * How to add a host's key to `file` safely: fetch it with ssh-keyscan, show its fingerprint, append it
 * once it matches the admin's. A host behind a jump host is scanned from the jump host (which can reach
 * it), logged in to with the service's own key and known_hosts file.
 */
export function addHostKey(c: Pick<ExplainTarget, 'jumpHost' | 'keyFile' | 'knownHostsFile'>, host: string, port: number, file: string, behindJump: boolean): string {
  const scan = `ssh-keyscan${port === 22 ? '' : ` -p ${port}`} ${host}`;
  let fetch = `${scan} > /tmp/hostkey`;
  if (behindJump && c.jumpHost) {
    const hops = c.jumpHost.split(',');
    const last = hops.pop()!;
    const login = `ssh${c.keyFile ? ` -i ${shellWord(c.keyFile)}` : ''}${c.knownHostsFile ? ` -o UserKnownHostsFile=${shellWord(c.knownHostsFile)}` : ''}${hops.length ? ` -J ${hops.join(',')}` : ''} ssh://${last}`;
    fetch = `${login} ${scan} > /tmp/hostkey (ssh-keyscan runs on the jump host, which reaches ${host})`;
  }
  return `${fetch}; ssh-keygen -lf /tmp/hostkey; if the fingerprint is the one the server's admin gives you, cat /tmp/hostkey >> ${shellWord(file)}`;
}

/** A path as a shell word: as is when nothing in it is special to a shell, else single-quoted. */
export const shellWord = (s: string) => (/^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * `ssh-keygen -f FILE -R ENTRY`: the entry as known_hosts writes it, `[host]:port` off port 22 (quoted:
 * brackets are a shell glob), the plain host on 22. Without a file, ssh-keygen's default file.
 */
export function forgetHostKey(entry: string, file?: string): string {
  return `ssh-keygen${file ? ` -f ${shellWord(file)}` : ''} -R ${entry.startsWith('[') ? `"${entry}"` : shellWord(entry)}`;
}

/** known_hosts' name for host and port. */
export const knownHostsEntry = (host: string, port?: number) => (port && port !== 22 ? `[${host}]:${port}` : host);

/**
 * A failed proxied connection ends with the final ssh's own two lines: the peer it knows only as a pipe
 * ("UNKNOWN port 65535") closed before the handshake. What came before them is the jump host's ssh's.
 */
function splitHop(out: string): { hop?: string; own: string } {
  const lines = out.split('\n');
  const end = lines.findIndex((l) => /^Connection (closed|reset) by UNKNOWN port 65535/.test(l.trim()));
  if (end < 0) return { own: out };
  let start = end;
  while (start > 0 && /^kex_exchange_identification: /.test(lines[start - 1].trim())) start--;
  return { hop: lines.slice(0, start).join('\n').trim(), own: lines.slice(start).join('\n') };
}

interface Who {
  /** As the message names it: `deploy@bastion:2222`, or `jump host deploy@jump`. */
  label: string;
  /** The hop's ssh: no local forward of its own, its target is the final host. */
  hop: boolean;
}

/**
 * ssh's failure output, turned into what happened, to which host, and what to do; undefined when it
 * says nothing LocalPort recognises. A failure of a jump host (`jump_host`, or ProxyJump from the ssh
 * config) is told apart from one of the final host by the way ssh reports a proxy that ended.
 */
export function explainSshOutput(c: ExplainTarget, out: string, localPort: number, exitCode?: number): ExitExplanation | undefined {
  const target = `${c.user ? `${c.user}@` : ''}${c.host}${c.port ? `:${c.port}` : ''}`;
  const { hop, own } = splitHop(out);
  if (hop !== undefined) {
    const label = c.jumpHost ? `jump host ${c.jumpHost}` : `the jump host (ProxyJump in your ssh config) for ${target}`;
    const explained = hop ? explainLines(c, hop, { label, hop: true }, localPort) : undefined;
    if (explained) return explained;
    // Nothing from the hop: it connected, then the far end closed the stream (its sshd shedding
    // connections, or the final host's, reached through it).
    return {
      message: `the connection to ${target} through ${label} was closed during the handshake${hop ? ` (${lastLine(hop)})` : ''}; the final host may be limiting new connections (sshd MaxStartups)`,
      failure: 'transient',
    };
  }
  if (/command not found|ENOENT/.test(own) && exitCode === 127) return { message: `ssh is not installed or not on PATH; install the OpenSSH client`, failure: 'permanent' };
  return explainLines(c, own, { label: target, hop: false }, localPort);
}

const lastLine = (text: string) => text.trim().split('\n').pop()?.trim() ?? '';

function explainLines(c: ExplainTarget, out: string, who: Who, localPort: number): ExitExplanation | undefined {
  // "channel N: open failed: connect failed: Connection refused" is about one connection through a
  // forward (its target refused), printed while the connection was up: never why the connection ended.
  if (!who.hop) out = out.split('\n').filter((l) => !/^\s*channel \d+: open failed/.test(l)).join('\n');
  const find = (re: RegExp) => out.split('\n').find((l) => re.test(l))?.trim();
  const last = (re: RegExp) => out.trim().split('\n').filter((l) => re.test(l)).pop()?.trim();
  const permanent = (message: string): ExitExplanation => ({ message, failure: 'permanent' });
  const file = c.knownHostsFile ?? '~/.ssh/known_hosts';

  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(out)) {
    // ssh's own "remove with" line names the file and entry it matched; else its other lines, else the config.
    const removeWith = /ssh-keygen -f "(.+)" -R "(.+)"/.exec(out);
    const offending = /Offending \S+ key in (.+):(\d+)\s*$/m.exec(out);
    const entry = removeWith?.[2] ?? /Host key for (\S+) has changed/.exec(out)?.[1] ?? (who.hop ? undefined : knownHostsEntry(c.host, c.port));
    const keyFile = removeWith?.[1] ?? offending?.[1] ?? c.knownHostsFile;
    const where = offending ? `${offending[1]}:${offending[2]}` : keyFile ?? 'known_hosts';
    return {
      message:
        `the host key of ${who.label}${entry ? ` (${entry})` : ''} has CHANGED: it does not match the key recorded in ${where}. Someone may be intercepting the connection, ` +
        `or the server was re-keyed; LocalPort will not retry. Only if the server's admin confirms the new key, remove the old one with ` +
        `${entry ? forgetHostKey(entry, keyFile) : `ssh-keygen${keyFile ? ` -f ${shellWord(keyFile)}` : ''} -R HOST`} and add the new one`,
      failure: 'rejected',
    };
  }
  const unknown = /No \S+ host key is known for (\S+) and you have requested strict checking/.exec(out);
  if (unknown) {
    const entry = unknown[1];
    const m = /^\[(.+)\]:(\d+)$/.exec(entry);
    const [host, port] = m ? [m[1], Number(m[2])] : [entry, 22];
    const reach = addHostKey(c, host, port, file, !who.hop && !!c.jumpHost);
    return permanent(
      `the host key of ${who.label} (${entry}) is not in ${file}, and strict_host_key_checking is yes, so ssh refuses to connect; to add it: ${reach}. ` +
        `Or set strict_host_key_checking: accept-new to trust the key it shows first`,
    );
  }
  if (/Host key verification failed/i.test(out)) {
    return { message: `host key verification failed for ${who.label} (${lastLine(out)}); check ${file}`, failure: 'rejected' };
  }
  // ssh skips a private key others can read, then fails on "Permission denied": that line would send
  // the user to check user and key, when the key is right and only its mode is wrong.
  const unprotected = /Load key "(.+)": bad permissions/.exec(out);
  if (unprotected) {
    const key = unprotected[1];
    const mode = /Permissions (0?\d{3,4}) for '.*' are too open/.exec(out)?.[1];
    return permanent(`key_file ${key}${mode ? ` has mode ${mode}` : ''}: others can read it, so ssh will not use it; make it private: chmod 600 ${shellWord(key)}`);
  }
  if (/Permission denied|Too many authentication failures/i.test(out)) {
    const also = who.hop ? ' (the jump host is offered the same key_file and agent keys as the final host)' : '';
    return { message: `authentication refused by ${who.label}; check user and key_file, or load the key into ssh-agent${also}`, failure: 'rejected' };
  }
  if (who.hop && /stdio forwarding failed/.test(out)) {
    const why = /open failed: (.*)$/m.exec(out)?.[1]?.trim() ?? lastLine(out);
    return permanent(`${who.label} could not connect to ${c.host}:${c.port ?? 22} (${why}); check host and port as the jump host sees them`);
  }
  const unresolved = /Could not resolve hostname ([^:\s]+)/i.exec(out);
  if (unresolved || /Name or service not known|nodename nor servname/i.test(out)) {
    const name = unresolved?.[1] ?? c.host;
    return permanent(`unknown host ${name}${who.hop ? ` (${who.label})` : ''}; check ${who.hop ? 'jump_host' : 'connection.host'} or your ~/.ssh/config`);
  }
  if (/Connection refused/i.test(out)) return permanent(`connection refused by ${who.label}; is sshd running there, on that port?`);
  if (!who.hop && /Address already in use|cannot listen to port|Could not request local forwarding/i.test(out)) {
    return permanent(`local port ${localPort} is already in use; stop what holds it or change local_port`);
  }
  if (/timed out|not responding/i.test(out)) return { message: `${who.label} did not answer (${lastLine(out)})`, failure: 'transient' };
  if (/Identity file .* not accessible|Load key .*: (No such file|invalid format|bad permissions)/i.test(out)) {
    return permanent(`cannot use key_file ${c.keyFile ?? ''}: ${find(/Identity file|Load key/)}`);
  }
  // "kex_exchange_identification: read: Connection reset by peer", "…: Connection closed by remote host"
  // (not "banner exchange: … invalid format": that is no ssh server at all, a setup mistake).
  const dropped = last(/^Connection (reset|closed) by|kex_exchange_identification: (read: )?Connection (reset|closed)/i);
  if (dropped) {
    return { message: `${who.label} dropped the connection during the handshake (${dropped}); it may be limiting new connections (sshd MaxStartups)`, failure: 'transient' };
  }
  const connect = find(/connect to host .* port \d+: .*/i);
  if (connect) return permanent(who.hop ? `${who.label}: ${connect}` : connect);
  return undefined;
}
