// Part of the build, after tsc: copies the dashboard's static files (daemon/page/: HTML, CSS, one ES
// module, an icon) to dist/daemon/page/, where daemon/dashboard.ts serves them from. They are the
// browser's, as written: tsc does not compile them and the CLI bundle does not carry them.
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const to = path.join(root, 'dist', 'daemon', 'page');
rmSync(to, { recursive: true, force: true });
cpSync(path.join(root, 'daemon', 'page'), to, { recursive: true });
