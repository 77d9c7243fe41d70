import type { BaseCommand } from './BaseCommand.js';

/** Only the config's path: talking to a running daemon must work while the file on disk is broken. */
export async function configFile(cmd: BaseCommand): Promise<string> {
  const { findConfigFile } = await import('../core/config/load.js');
  return findConfigFile({ configPath: cmd.configPath });
}

