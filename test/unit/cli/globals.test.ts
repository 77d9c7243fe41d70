import { describe, expect, it } from '@jest/globals';
import { extractGlobals } from '../../../cli/globals.js';

describe('global options before the command', () => {
  it('takes leading globals off argv, as the original CLI accepted them', () => {
    expect(extractGlobals(['--config', 'f.yaml', '--output=json', 'config', 'validate'])).toEqual({
      args: ['config', 'validate'],
      globals: { config: 'f.yaml', output: 'json', command: [] },
    });
    expect(extractGlobals(['-c', 'x', '--json', '--log-level', 'debug', 'run']).globals).toEqual({ config: 'x', output: 'json', logLevel: 'debug', command: [] });
  });

  it('splits run\'s command at the first --, keeping later -- for the command', () => {
    expect(extractGlobals(['run', 'web', '-t', 'db', '--', 'node', '-e', 'x', '--', '--config', 'y'])).toEqual({
      args: ['run', 'web', '-t', 'db'],
      globals: { command: ['node', '-e', 'x', '--', '--config', 'y'] },
    });
  });

  it('leaves options after the command to clipanion', () => {
    expect(extractGlobals(['config', 'print', '--config', 'a']).args).toEqual(['config', 'print', '--config', 'a']);
  });
});
