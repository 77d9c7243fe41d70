import { existsSync } from 'node:fs';

/** Where the real peers live on Debian. No jest import here: bench/ uses these too. */
export const SSHD = '/usr/sbin/sshd';
export const hasSshd = existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen');
