import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../BaseCommand.js';

export class ConfigValidateCommand extends BaseCommand {
  static override paths = [['config', 'validate']];

  static override usage = Command.Usage({
    category: 'Config',
    description: 'Check the config: syntax, every key, every service, every ${VAR}',
    details: `
      Prints one line per problem, with the file and the key path, and exits 2 if there is any. Every
      \${VAR} must be set; with --only, only those of the services named (the others' may be unset, as
      when run starts only some services).
    `,
    examples: [
      ['Validate the config found in this directory', '$0 config validate'],
      ['Validate a given file, as JSON', '$0 --config localport.yaml config validate --output json'],
      ['Check web and api, whatever the variables of the others', '$0 config validate --only web --only api'],
    ],
  });

  only = Option.Array('--only', { description: 'Require the variables of these services only (repeatable)' });

  async run(): Promise<number> {
    const [{ validateView }, { selectServices }] = await Promise.all([import('../../../app/configView.js'), import('../../../core/supervisor/select.js')]);
    const { config } = await this.loadProject({ variables: this.only?.length ? 'lenient' : 'strict' });
    if (this.only?.length) selectServices(config, { names: this.only }, { toStart: true });
    await this.show(validateView(config));
    return 0;
  }
}
