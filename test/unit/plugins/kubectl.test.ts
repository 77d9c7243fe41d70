import { describe, expect, it } from '@jest/globals';
import { explainKubectlExit, kubectlArgs, kubectlConnectionSchema, type KubectlConnection } from '../../../plugins/kubectl/index.js';
import type { ServiceDefinition } from '../../../core/types.js';

const service = (connection: Record<string, unknown>): ServiceDefinition<KubectlConnection> =>
  ({ name: 'db', technology: 'kubectl', localPort: 15432, remotePort: 5432, connection: kubectlConnectionSchema.parse(connection) }) as ServiceDefinition<KubectlConnection>;

describe('kubectl technology', () => {
  it('builds an argument array bound to 127.0.0.1, flags joined to their values', () => {
    expect(kubectlArgs(service({ resource_name: 'postgres', namespace: 'data', context: 'prod', kubeconfig: '/k', resource_type: 'deploy' }))).toEqual([
      'port-forward',
      'deployment/postgres',
      '15432:5432',
      '--namespace=data',
      '--address=127.0.0.1',
      '--context=prod',
      '--kubeconfig=/k',
    ]);
  });

  it.each([['-n'], ['--kubeconfig=/etc/x'], ['Postgres'], ['a b'], ['x'.repeat(254)]])('refuses resource name %p', (name) => {
    expect(kubectlConnectionSchema.safeParse({ resource_name: name }).success).toBe(false);
  });

  it.each([['--all-namespaces'], ['kube_system'], ['x'.repeat(64)]])('refuses namespace %p', (ns) => {
    expect(kubectlConnectionSchema.safeParse({ resource_name: 'a', namespace: ns }).success).toBe(false);
  });

  // The texts below are what real kubectl 1.30 printed in this repo's tests.
  it.each([
    ['Error in configuration: context was not found for specified context: nope', /kubeconfig context 'nope' does not exist/],
    ['error: context "staging" does not exist', /kubeconfig context 'staging' does not exist/],
    ['E1121 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list"\nThe connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?', /unreachable \(The connection to the server 127\.0\.0\.1:1 was refused/],
    ['Error from server (NotFound): services "nope" not found', /^service\/nope not found in namespace default/],
    ['Error from server (NotFound): deployments.apps "web" not found', /^deployment\/web not found/],
    ['error: unable to forward port because pod is not running. Current status=Pending', /is not running \(status Pending\)/],
    ['Unable to listen on port 15432: Listeners failed to create with the following errors: [unable to create listener: Error listen tcp4 127.0.0.1:15432: bind: address already in use]\nerror: unable to listen on any of the requested ports: [{15432 5432}]', /local port 15432 is already in use/],
    ['error: lost connection to pod', /kubectl lost its connection to the pod/],
  ])('explains %p', (output, expected) => {
    expect(explainKubectlExit(service({ resource_name: 'x' }), { exitCode: 1, output })).toMatch(expected);
  });
});
