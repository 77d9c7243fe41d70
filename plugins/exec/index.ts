import { z } from 'zod';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { configObject, CONTROL_MESSAGE, definePlugin, hasControl, hostname, type ServiceDefinition } from '../../core/index.js';

const PLUGIN_NAME = 'localport:exec';

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * `exec`: any program that opens a forward, without writing a plugin — a cloud session manager, an IAP
 * tunnel, a database proxy, a bastion script. Placeholders in `args` and `env` values: `{localPort}`,
 * `{remotePort}`, `{bindAddress}`, and any other `connection` key (`{host}`, `{instance}`, …).
 * `{localPort}` and `{bindAddress}` are where the program must listen: with the relay, the internal
 * loopback port LocalPort assigned (its own listener owns the service's local_port); with
 * `relay: false`, the service's own address and port.
 * Never a shell: `command` is run directly with `args` as an array.
 */
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/**
 * Every placeholder must name a value: checked when the config is validated, not when it runs. Made
 * when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
 */
export const execConnectionSchema = z.lazy(() =>
  configObject({
    command: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    /** A regular expression matched against each stdout/stderr line; without it, ready = the local port accepts. */
    readyPattern: z
      .string()
      .refine((p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      }, 'must be a valid regular expression')
      .optional(),
    /** Unset: LocalPort listens on 127.0.0.1 and ::1 (127.0.0.1 with relay: false). */
    bindAddress: hostname().optional(),
    /** Extra values for placeholders, e.g. `host`, `instance`, `zone`. */
    vars: z.record(z.string(), scalar).default({}),
    host: z.string().refine((h) => !hasControl(h), CONTROL_MESSAGE).optional(),
  }).superRefine((c, ctx) => {
    const available = ['localPort', 'remotePort', 'bindAddress', 'name', ...(c.host !== undefined ? ['host'] : []), ...Object.keys(c.vars)];
    const check = (text: string, path: (string | number)[]) => {
      for (const [, key] of text.matchAll(PLACEHOLDER)) {
        if (!available.includes(key)) ctx.addIssue({ code: 'custom', path, message: `unknown placeholder {${key}}; available: ${available.map((k) => `{${k}}`).join(', ')} (add it under vars)` });
      }
    };
    c.args.forEach((a, i) => check(a, ['args', i]));
    for (const [k, v] of Object.entries(c.env)) check(v, ['env', k]);
  }),
);

export type ExecConnection = z.output<typeof execConnectionSchema>;
export type ExecConnectionInput = {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  readyPattern?: string;
  bindAddress?: string;
  host?: string;
  vars?: Record<string, string | number | boolean>;
};

declare module '../../core/types.js' {
  interface TechnologyConnections {
    exec: ExecConnectionInput;
  }
}

/** Fills `{name}` placeholders; an unknown one is an error naming what is available. */
export function fillPlaceholders(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (whole, key: string) => values[key] ?? whole);
}

export function execValues(service: ServiceDefinition<ExecConnection>, listen: { host: string; port: number } = { host: service.connection.bindAddress ?? '127.0.0.1', port: service.localPort }): Record<string, string> {
  const c = service.connection;
  const values: Record<string, string> = {
    localPort: String(listen.port),
    remotePort: String(service.remotePort),
    bindAddress: listen.host,
    name: service.name,
  };
  if (c.host !== undefined) values.host = c.host;
  for (const [k, v] of Object.entries(c.vars)) values[k] = String(v);
  return values;
}

export const execPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerTechnology<ExecConnection>({
        type: 'exec',
        connectionSchema: execConnectionSchema,
        // `vars` names the `{placeholders}` of `args`: a snake_case name must stay snake_case.
        freeFormKeys: ['env', 'vars'],
        localAddress: (c) => c.bindAddress,
        listenHint: 'Give the program {bindAddress}:{localPort} as its listen address in args (LocalPort listens on local_port itself and relays to it), or set relay: false on the service.',
        describeTarget: (s) => `${s.connection.command}${s.connection.host ? ` → ${s.connection.host}:${s.remotePort}` : ` :${s.remotePort}`}`,
        createForward(service, ctx) {
          const values = execValues(service, 'path' in ctx.listen ? undefined : ctx.listen);
          const c = service.connection;
          return {
            command: c.command,
            args: c.args.map((a) => fillPlaceholders(a, values)),
            env: Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, fillPlaceholders(v, values)])),
            ready: c.readyPattern ? { output: new RegExp(c.readyPattern) } : { port: true },
          };
        },
        async doctor(services) {
          return [...new Set(services.map((s) => s.connection.command))].map((command) => {
            const found = command.includes('/') ? (existsSync(command) ? command : undefined) : (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, command)).find((f) => existsSync(f));
            const users = services.filter((s) => s.connection.command === command).map((s) => s.name);
            return { name: `command ${command}`, check: 'command', subject: command, services: users, ok: !!found, required: true, detail: found ? `found at ${found}` : 'not found on PATH' };
          });
        },
      });
    },
  });
