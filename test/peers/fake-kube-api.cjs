#!/usr/bin/env node
// A stand-in Kubernetes API server for LocalPort's kubectl tests. There is no cluster on this machine;
// the *real* kubectl talks to this server, and real bytes flow through kubectl's SPDY port-forward to a
// local TCP target per pod. It serves only what `kubectl port-forward` asks for (PEERS.md): /version,
// discovery, services, deployments, pods, and the portforward upgrade.
//
// Usage: node fake-kube-api.cjs CONFIG.json  → prints "fake-kube-api listening on 127.0.0.1:PORT"
// CONFIG: { services: [{ namespace, name, selector, ports: [{ port, targetPort }] }],
//           deployments: [{ namespace, name, selector }],
//           pods: [{ namespace, name, labels, phase, targets: { "<containerPort>": <local TCP port> } }] }
// Control (for the tests): POST /__fake/kill?namespace=&name=   drop the pod's streams, replace it
//                          POST /__fake/phase?namespace=&name=&phase=Pending
//                          GET  /__fake/state
'use strict';
const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');
const transport = require('spdy-transport');
const spdyParser = require('spdy-transport/lib/spdy-transport/protocol/spdy/parser.js');

// kubectl's port-forward streams carry only streamtype/port/requestid; spdy-transport insists on the
// HTTP pseudo-headers. Supply them before its check (its Parser class is reached through create()).
const create = spdyParser.create;
let patched = false;
spdyParser.create = function (options) {
  const parser = create.call(this, options);
  if (!patched) {
    patched = true;
    const proto = Object.getPrototypeOf(parser);
    const parseKVs = proto.parseKVs;
    proto.parseKVs = function (buffer, callback) {
      return parseKVs.call(this, buffer, (err, headers) => {
        if (!err && headers) {
          headers[':method'] ??= 'POST';
          headers[':path'] ??= '/';
        }
        callback(err, headers);
      });
    };
  }
  return parser;
};

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const pods = config.pods.map((p) => ({ phase: 'Running', ...p, generation: 1, created: new Date().toISOString() }));
const connections = new Map(); // pod key -> Set<socket>
const key = (ns, name) => `${ns}/${name}`;

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const notFound = (res, kind, name) =>
  json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `${kind} "${name}" not found`, reason: 'NotFound', details: { name, kind }, code: 404 });

const podObject = (p) => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: p.name, namespace: p.namespace, labels: p.labels, uid: `uid-${p.name}`, creationTimestamp: p.created },
  spec: { containers: [{ name: 'main', image: 'fake', ports: Object.keys(p.targets).map((port) => ({ containerPort: Number(port), protocol: 'TCP' })) }] },
  status: {
    phase: p.phase,
    conditions: [{ type: 'Ready', status: p.phase === 'Running' ? 'True' : 'False' }],
    containerStatuses: [{ name: 'main', ready: p.phase === 'Running', restartCount: 0, image: 'fake', imageID: '', state: p.phase === 'Running' ? { running: {} } : { waiting: { reason: 'ContainerCreating' } } }],
  },
});
const matches = (labels, selector) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const parseSelector = (s) => Object.fromEntries((s ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));

const resources = (list) => ({ kind: 'APIResourceList', ...list });

function serveApi(req, res, url) {
  const p = url.pathname;
  if (p === '/version') return json(res, 200, { major: '1', minor: '30', gitVersion: 'v1.30.0', platform: 'linux/amd64' });
  if (p === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${server.address().port}` }] });
  if (p === '/apis') {
    return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } }] });
  }
  if (p === '/api/v1') {
    return json(res, 200, resources({
      groupVersion: 'v1',
      resources: [
        { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
        { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
        { name: 'services', singularName: 'service', namespaced: true, kind: 'Service', verbs: ['get', 'list'], shortNames: ['svc'] },
      ],
    }));
  }
  if (p === '/apis/apps/v1') {
    return json(res, 200, resources({
      groupVersion: 'apps/v1',
      resources: [
        { name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment', verbs: ['get', 'list'], shortNames: ['deploy'] },
        { name: 'statefulsets', singularName: 'statefulset', namespaced: true, kind: 'StatefulSet', verbs: ['get', 'list'], shortNames: ['sts'] },
      ],
    }));
  }
  let m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/.exec(p);
  if (m) {
    const s = config.services.find((x) => x.namespace === m[1] && x.name === m[2]);
    if (!s) return notFound(res, 'services', m[2]);
    return json(res, 200, {
      kind: 'Service',
      apiVersion: 'v1',
      metadata: { name: s.name, namespace: s.namespace, uid: `uid-svc-${s.name}` },
      spec: { selector: s.selector, ports: s.ports.map((x) => ({ protocol: 'TCP', port: x.port, targetPort: x.targetPort ?? x.port })), type: 'ClusterIP', clusterIP: '10.0.0.1' },
    });
  }
  m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets)\/([^/]+)$/.exec(p);
  if (m) {
    const d = (config.deployments ?? []).find((x) => x.namespace === m[1] && x.name === m[3]);
    if (!d) return notFound(res, `${m[2]}.apps`, m[3]);
    return json(res, 200, {
      kind: m[2] === 'deployments' ? 'Deployment' : 'StatefulSet',
      apiVersion: 'apps/v1',
      metadata: { name: d.name, namespace: d.namespace, uid: `uid-d-${d.name}` },
      spec: { selector: { matchLabels: d.selector }, template: { metadata: { labels: d.selector }, spec: { containers: [{ name: 'main', image: 'fake' }] } } },
    });
  }
  m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p);
  if (m) {
    const sel = parseSelector(url.searchParams.get('labelSelector'));
    return json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: pods.filter((x) => x.namespace === m[1] && !x.deleted && matches(x.labels, sel)).map(podObject) });
  }
  m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p);
  if (m) {
    const pod = pods.find((x) => x.namespace === m[1] && x.name === m[2] && !x.deleted);
    return pod ? json(res, 200, podObject(pod)) : notFound(res, 'pods', m[2]);
  }
  return notFound(res, 'path', p);
}

function control(req, res, url) {
  const ns = url.searchParams.get('namespace');
  const name = url.searchParams.get('name');
  if (url.pathname === '/__fake/state') return json(res, 200, { pods: pods.filter((p) => !p.deleted).map((p) => ({ name: p.name, phase: p.phase, streams: connections.get(key(p.namespace, p.name))?.size ?? 0 })) });
  const pod = pods.find((x) => x.namespace === ns && x.name === name && !x.deleted);
  if (!pod) return json(res, 404, { error: `no pod ${ns}/${name}` });
  if (url.pathname === '/__fake/kill') {
    // The pod dies: its port-forward connections drop; its ReplicaSet brings a new pod up.
    for (const s of connections.get(key(ns, name)) ?? []) s.destroy();
    connections.delete(key(ns, name));
    pod.deleted = true;
    const base = pod.name.replace(/-g\d+$/, '');
    const next = { ...pod, name: `${base}-g${pod.generation + 1}`, generation: pod.generation + 1, deleted: false, created: new Date().toISOString() };
    pods.push(next);
    return json(res, 200, { replacement: next.name });
  }
  if (url.pathname === '/__fake/phase') {
    pod.phase = url.searchParams.get('phase');
    return json(res, 200, { phase: pod.phase });
  }
  return json(res, 404, { error: 'unknown control' });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/__fake/')) return control(req, res, url);
  serveApi(req, res, url);
});

// kubectl's port-forward: websocket first (declined: 400, so it falls back), then SPDY/3.1.
server.on('upgrade', (req, socket) => {
  const url = new URL(req.url, 'http://x');
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (!m || !upgrade.startsWith('spdy/3.1')) {
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n\r\nonly SPDY/3.1 here\r\n');
    return;
  }
  const pod = pods.find((x) => x.namespace === m[1] && x.name === m[2] && !x.deleted);
  if (!pod || pod.phase !== 'Running') {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n');
  const k = key(pod.namespace, pod.name);
  if (!connections.has(k)) connections.set(k, new Set());
  connections.get(k).add(socket);
  socket.on('close', () => connections.get(k)?.delete(socket));
  socket.on('error', () => {});
  const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: true });
  conn.start(3.1);
  conn.on('error', () => socket.destroy());
  const errorStreams = new Map();
  conn.on('stream', (stream) => {
    const h = stream.headers;
    stream.respond(200, {});
    stream.on('error', () => {});
    const type = h.streamtype;
    const id = h.requestid;
    if (type === 'error') {
      errorStreams.set(id, stream);
      return;
    }
    if (type !== 'data') return stream.end();
    const target = pod.targets[h.port];
    if (!target) {
      errorStreams.get(id)?.end(`pod ${pod.name} has no port ${h.port}`);
      return stream.end();
    }
    const upstream = net.connect(target, '127.0.0.1');
    let failed = false;
    upstream.on('error', (e) => {
      failed = true;
      errorStreams.get(id)?.end(`error forwarding port ${h.port} to pod ${pod.name}: ${e.message}`);
      stream.end();
    });
    // kubectl waits for the error stream to close before it closes the local connection: close it
    // (empty: no error) once the pod side of this connection is done, as the real kubelet does.
    upstream.on('close', () => {
      if (!failed) errorStreams.get(id)?.end();
      errorStreams.delete(id);
    });
    stream.pipe(upstream).pipe(stream);
  });
});

server.listen(0, '127.0.0.1', () => console.log(`fake-kube-api listening on 127.0.0.1:${server.address().port}`));
