import { z } from 'zod';
import { configObject, CONTROL_MESSAGE, definePlugin, hasControl, hostname, type DoctorCheck, type ExitInfo, type ServiceDefinition } from '../../core/index.js';
import { probe } from '../probe.js';

const PLUGIN_NAME = 'localport:kubectl';

// Kubernetes naming rules (DNS-1123): nothing that could be read as a flag gets through.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const RESOURCE_TYPES = { service: 'service', svc: 'service', deployment: 'deployment', deploy: 'deployment', pod: 'pod', po: 'pod', statefulset: 'statefulset', sts: 'statefulset' } as const;

// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const kubectlConnectionSchema = z.lazy(() =>
  configObject({
    resourceType: z
      .enum(Object.keys(RESOURCE_TYPES) as [keyof typeof RESOURCE_TYPES, ...(keyof typeof RESOURCE_TYPES)[]], {
        error: `must be one of ${Object.keys(RESOURCE_TYPES).join(', ')}`,
      })
      .default('service')
      .transform((t) => RESOURCE_TYPES[t]),
    resourceName: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') })
      .max(253)
      .regex(SUBDOMAIN, 'must be a Kubernetes resource name (lower-case letters, digits, "-" and ".")'),
    namespace: z.string().max(63).regex(LABEL, 'must be a Kubernetes namespace name (lower-case letters, digits and "-")').default('default'),
    context: z.string().min(1).refine((c) => !hasControl(c), { error: CONTROL_MESSAGE, abort: true }).regex(/^[^-\s]/, 'must be a kubeconfig context name (no leading "-")').optional(),
    kubeconfig: z.string().min(1).optional(),
    /** Unset: LocalPort listens on 127.0.0.1 and ::1 (127.0.0.1 with relay: false). */
    address: hostname().optional(),
    kubectlPath: z.string().min(1).default('kubectl'),
  }),
);

export type KubectlConnection = z.output<typeof kubectlConnectionSchema>;
export type KubectlConnectionInput = {
  resourceType?: keyof typeof RESOURCE_TYPES;
  resourceName: string;
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  address?: string;
  kubectlPath?: string;
};

declare module '../../core/types.js' {
  interface TechnologyConnections {
    kubectl: KubectlConnectionInput;
  }
}

/** kubectl's arguments for a forward listening on `listen` (the internal endpoint, or with `relay: false` the user's address and port). */
export function kubectlArgs(service: ServiceDefinition<KubectlConnection>, listen: { host: string; port: number } = { host: service.connection.address ?? '127.0.0.1', port: service.localPort }): string[] {
  const c = service.connection;
  const args = ['port-forward', `${c.resourceType}/${c.resourceName}`, `${listen.port}:${service.remotePort}`, `--namespace=${c.namespace}`, `--address=${listen.host}`];
  if (c.context) args.push(`--context=${c.context}`);
  if (c.kubeconfig) args.push(`--kubeconfig=${c.kubeconfig}`);
  return args;
}

/** kubectl's own failure messages (as kubectl 1.30 prints them; test/unit/plugins/kubectl.test.ts has the texts), turned into what happened and what to do. */
export function explainKubectlExit(service: ServiceDefinition<KubectlConnection>, info: ExitInfo): string | undefined {
  const out = info.output;
  const c = service.connection;
  const line = (re: RegExp) => out.split('\n').find((l) => re.test(l))?.trim();
  if (info.exitCode === 127 && /command not found|No such file/.test(out)) return `kubectl is not installed or not on PATH (${c.kubectlPath}); install kubectl or set connection.kubectl_path`;
  let m = /context "([^"]+)" does not exist/.exec(out) ?? /context was not found for specified context: (\S+)/.exec(out);
  if (m) return `kubeconfig context '${m[1]}' does not exist; check connection.context (kubectl config get-contexts)`;
  if (/connection to the server .* was refused|Unable to connect to the server|no such host|i\/o timeout/i.test(out)) {
    const why = line(/^The connection to the server|^Unable to connect to the server/) ?? line(/server/i);
    return `the Kubernetes API server is unreachable (${why}); check your cluster, VPN and kubeconfig`;
  }
  m = /pod is not running\. Current status=(\w+)/.exec(out);
  if (m) return `the pod behind ${c.resourceType}/${c.resourceName} is not running (status ${m[1]}); wait for it or check kubectl describe`;
  if (/NotFound|not found/i.test(out)) {
    const what = /\(NotFound\): (\S+) "([^"]+)" not found/.exec(out);
    // `services`, `deployments.apps` → service, deployment
    const missing = what ? `${what[1].replace(/\.apps$/, '').replace(/s$/, '')}/${what[2]}` : `${c.resourceType}/${c.resourceName}`;
    return `${missing} not found in namespace ${c.namespace}; check resource_name, resource_type and namespace`;
  }
  if (/address already in use|unable to listen on/i.test(out)) return `local port ${service.localPort} is already in use; stop what holds it or change local_port`;
  if (/lost connection to pod/.test(out)) return `kubectl lost its connection to the pod`;
  return undefined;
}

/** kubectl's binary and version (per kubectl_path), and every context the services name (per kubeconfig). */
export async function kubectlDoctor(services: ServiceDefinition<KubectlConnection>[]): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const binaries = [...new Set(services.map((s) => s.connection.kubectlPath))];
  if (binaries.length === 0) binaries.push('kubectl');
  const working = new Set<string>();
  for (const bin of binaries) {
    const r = await probe(bin, ['version', '--client', '-o', 'json']);
    if (r.missing) {
      checks.push({ name: `binary ${bin}`, check: 'binary', subject: bin, ok: false, required: true, detail: 'not found; install kubectl, or set connection.kubectl_path' });
      continue;
    }
    let version = 'unknown version';
    try {
      version = (JSON.parse(r.out.slice(r.out.indexOf('{'))) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
    } catch {
      /* keep "unknown" */
    }
    checks.push({ name: `binary ${bin}`, check: 'binary', subject: bin, ok: r.ok, required: true, detail: r.ok ? `kubectl ${version}` : r.out.split('\n')[0] });
    if (r.ok) working.add(bin);
  }
  const wanted = new Map<string, { bin: string; kubeconfig?: string; context: string; services: string[] }>();
  for (const s of services) {
    if (!s.connection.context || !working.has(s.connection.kubectlPath)) continue;
    const k = `${s.connection.kubectlPath}\0${s.connection.kubeconfig ?? ''}\0${s.connection.context}`;
    const entry = wanted.get(k) ?? { bin: s.connection.kubectlPath, kubeconfig: s.connection.kubeconfig, context: s.connection.context, services: [] };
    entry.services.push(s.name);
    wanted.set(k, entry);
  }
  for (const w of wanted.values()) {
    const r = await probe(w.bin, ['config', 'get-contexts', '-o', 'name', ...(w.kubeconfig ? [`--kubeconfig=${w.kubeconfig}`] : [])]);
    const contexts = r.ok ? r.out.split('\n').map((l) => l.trim()) : [];
    const ok = contexts.includes(w.context);
    checks.push({
      name: `context ${w.context}`,
      check: 'context',
      subject: w.context,
      services: w.services,
      ok,
      required: true,
      detail: ok
        ? `found${w.kubeconfig ? ` in ${w.kubeconfig}` : ''} (used by ${w.services.join(', ')})`
        : `does not exist${w.kubeconfig ? ` in ${w.kubeconfig}` : ''}, but ${w.services.join(', ')} use${w.services.length === 1 ? 's' : ''} it; known: ${contexts.filter(Boolean).join(', ') || 'none'}`,
    });
  }
  return checks;
}

/** Forwards with `kubectl port-forward`, ready when kubectl prints `Forwarding from`. */
export const kubectlPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerTechnology<KubectlConnection>({
        type: 'kubectl',
        connectionSchema: kubectlConnectionSchema,
        localAddress: (c) => c.address,
        describeTarget: (s) => `${s.connection.context ? `${s.connection.context}/` : ''}${s.connection.namespace}/${s.connection.resourceType}/${s.connection.resourceName}:${s.remotePort}`,
        createForward: (service, ctx) => ({
          command: service.connection.kubectlPath,
          // kubectl listens on TCP only: core hands it a loopback port.
          args: kubectlArgs(service, 'path' in ctx.listen ? undefined : ctx.listen),
          ready: { output: /^Forwarding from / },
          explainExit: (info) => explainKubectlExit(service, info),
        }),
        doctor: kubectlDoctor,
      });
    },
  });
