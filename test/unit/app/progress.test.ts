import { expect, it } from '@jest/globals';
import { failedStep, outcomeLine, sameFailure } from '../../../app/progress.js';

it("says a shared connection's failure once, under the first service, and points there from the others", () => {
  const said = sameFailure();
  const refused = (name: string) => `service ${name}: authentication refused by deploy@bastion:22; check user and key_file`;
  expect(said('api', refused('api'), 'ssh#1')).toBe(refused('api'));
  expect(said('db', refused('db'), 'ssh#1')).toBe('service db: the same failure of the shared connection ssh#1 as api (above)');
  // Another connection, another failure, or a service on a connection of its own: said in full.
  expect(said('web', refused('web'), 'ssh#2')).toBe(refused('web'));
  expect(said('cache', 'service cache: the target behind the tunnel refused the connection (db:6379)', 'ssh#1')).toMatch(/^service cache: the target behind/);
  expect(said('solo', refused('solo'), undefined)).toBe(refused('solo'));
});

it('off a terminal, a failure or a skip names its service once, then the reason', () => {
  expect(outcomeLine('api: 127.0.0.1:80', 'service api: connection refused')).toBe('service api: connection refused');
  expect(outcomeLine('api: 127.0.0.1:80', 'not waited for: db failed')).toBe('api: not waited for: db failed');
  expect(outcomeLine('api', 'api: not healthy after --timeout 5 s')).toBe('api: not healthy after --timeout 5 s');
  // Another service's name in the reason is not this one's.
  expect(outcomeLine('api: x', 'service db: refused')).toBe('api: service db: refused');
});

it("a failed step says what failed, not what it waited for", () => {
  const s = { target: 'deploy@bastion:22 → db:5432', where: 'localhost:5432', connection: 'ssh#1', check: 'postgres', attempts: 3 };
  expect(failedStep('connect', s)).toBe('could not connect to deploy@bastion:22 → db:5432 (shared connection ssh#1)');
  expect(failedStep('connect', { ...s, connection: undefined })).toBe('could not connect to deploy@bastion:22 → db:5432');
  expect(failedStep('listen', s)).toBe('could not listen on localhost:5432');
  expect(failedStep('health', s)).toBe('health: postgres failed (3 attempts)');
  expect(failedStep('health', { ...s, attempts: 0 })).toBe('health: postgres failed');
});
