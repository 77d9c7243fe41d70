// `npm run quickstart`: a demo API, then `localport run` in front of it with a command that uses it.
// Nothing here is needed for real use: point a config at your own host instead of the demo API.
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(here, '..', '..', 'dist', 'cli', 'bin.js');
const config = path.join(here, 'localport.yaml');

const api = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(req.url === '/health' ? 'ok\n' : 'hello from the demo API\n');
});
api.on('error', (e) => {
  console.error(`quickstart: cannot start the demo API on 127.0.0.1:7781: ${e.code ?? e.message}`);
  process.exit(1);
});
api.listen(7781, '127.0.0.1', () => {
  // LocalPort starts the service, waits until it is healthy, then runs the command after `--` with
  // LOCALPORT_DEMO_API_PORT set; it stops everything when the command ends.
  const client = path.join(here, 'client.mjs');
  const child = spawn(process.execPath, [bin, 'run', '--config', config, '--', process.execPath, client], { stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    api.close();
    process.exitCode = code ?? (signal ? 1 : 0);
  });
});
