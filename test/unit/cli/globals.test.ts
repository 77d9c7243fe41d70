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

describe('colour flags', () => {
  it('takes --color, --no-color and --color=always|never|auto off argv wherever they are before --, the last one winning', () => {
    expect(extractGlobals(['--color=never', '--config', 'f.yaml', 'status', '--wide'])).toEqual({ args: ['status', '--wide'], globals: { config: 'f.yaml', color: false, command: [] } });
    expect(extractGlobals(['status', '--no-color', '--color=always']).globals.color).toBe(true);
    expect(extractGlobals(['status', '--color', '--color=never']).globals.color).toBe(false);
    // auto undoes an earlier flag: the environment and the terminal decide.
    expect(extractGlobals(['status', '--no-color', '--color=auto'])).toEqual({ args: ['status'], globals: { command: [] } });
    // What follows -- is run's command, with its own flags.
    expect(extractGlobals(['run', '--', 'ls', '--color=never'])).toEqual({ args: ['run'], globals: { command: ['ls', '--color=never'] } });
    // An invalid value is left for the parser to refuse.
    expect(extractGlobals(['status', '--color=sometimes']).args).toEqual(['status', '--color=sometimes']);
  });
});
