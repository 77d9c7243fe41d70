import { expect, it } from '@jest/globals';
import { sameFailure } from '../../../app/progress.js';

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
