// Runs under `localport run`: talks to the service through LocalPort, then shows `localport status`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const port = process.env.LOCALPORT_DEMO_API_PORT;
const url = `http://localhost:${port}/`;
const res = await fetch(url);
console.log(`\nGET ${url} → ${res.status} ${(await res.text()).trim()}\n`);
// Under `run`, status reads a snapshot refreshed every second: wait for one that has the request in it.
await new Promise((r) => setTimeout(r, 1100));
const status = spawnSync(process.execPath, [path.join(here, '..', '..', 'dist', 'cli', 'bin.js'), 'status', '--config', path.join(here, 'localport.yaml')], { stdio: 'inherit' });
process.exitCode = status.status ?? 1;
