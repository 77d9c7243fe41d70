import { definePreset } from '../../core/index.js';
import { jsonFormatterPlugin } from '../../plugins/format-json/index.js';
import { tableFormatterPlugin } from '../../plugins/format-table/index.js';
import { textFormatterPlugin } from '../../plugins/format-text/index.js';
import { httpHealthPlugin } from '../../plugins/health-http/index.js';
import { kafkaHealthPlugin } from '../../plugins/health-kafka/index.js';
import { postgresHealthPlugin } from '../../plugins/health-postgres/index.js';
import { tcpHealthPlugin } from '../../plugins/health-tcp/index.js';
import { kubectlPlugin } from '../../plugins/kubectl/index.js';
import { sshPlugin } from '../../plugins/ssh/index.js';
import { execPlugin } from '../../plugins/exec/index.js';
import { tcpPlugin } from '../../plugins/tcp/index.js';

/** The built-in plugins. Every LocalPort config gets these first; a config's own plugins come after. */
export const defaultPreset = () =>
  definePreset({
    plugins: [sshPlugin(), kubectlPlugin(), execPlugin(), tcpPlugin(), tcpHealthPlugin(), httpHealthPlugin(), postgresHealthPlugin(), kafkaHealthPlugin(), tableFormatterPlugin(), jsonFormatterPlugin(), textFormatterPlugin()],
  });

export { sshPlugin, kubectlPlugin, execPlugin, tcpPlugin, tcpHealthPlugin, httpHealthPlugin, postgresHealthPlugin, kafkaHealthPlugin, tableFormatterPlugin, jsonFormatterPlugin, textFormatterPlugin };
