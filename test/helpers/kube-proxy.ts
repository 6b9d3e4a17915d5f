// A fault-injecting reverse proxy in front of the suite's real kube-apiserver: it forwards every
// request unchanged (the worker's own token, the real authorizer), and on demand answers one with
// a 500, holds it back, or cuts a watch short. It also tells which requests passed, and lets a
// test act between a request and its answer. Nothing here answers as Kubernetes would.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';

/** One request the proxy passed, in RBAC terms, with the code the client got. */
export interface ProxiedRequest {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  code: number;
  /** The request body (JSON text), for writes. */
  body: string;
}

type Match = Partial<Pick<ProxiedRequest, 'verb' | 'resource' | 'subresource' | 'name'>>;
/** `error`: a 500 instead of forwarding; `delay`: forwarded after `ms`; `drop-watch`: the watch is cut after `ms`. */
export type Fault = Match & ({ kind: 'error' } | { kind: 'delay'; ms: number } | { kind: 'drop-watch'; ms: number });

export interface KubeProxy {
  url: string;
  /** A kubeconfig for the proxy holding the given kubeconfig's user token and namespace. */
  kubeconfig: string;
  /** Faults still to fire: each fires once, on the first matching request. */
  faults: Fault[];
  served: ProxiedRequest[];
  /** Awaited after the apiserver answered and before the client gets the answer. */
  beforeAnswer?: (r: ProxiedRequest) => Promise<void> | void;
  close(): Promise<void>;
}

const VERBS: Record<string, (named: boolean, watch: boolean) => string> = {
  GET: (named, watch) => (watch ? 'watch' : named ? 'get' : 'list'),
  POST: () => 'create',
  PUT: () => 'update',
  PATCH: () => 'patch',
  DELETE: (named) => (named ? 'delete' : 'deletecollection'),
};

/** Reads verb, group, resource, subresource, namespace and name from an API path. */
export function describeRequest(method: string, rawUrl: string): Omit<ProxiedRequest, 'code' | 'body'> {
  const url = new URL(rawUrl, 'http://x');
  const m = url.pathname.match(/^\/(?:api\/v1|apis\/(?<group>[^/]+)\/[^/]+)\/(?<rest>.+)$/);
  const parts = (m?.groups?.rest ?? '').split('/');
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length >= 3) namespace = parts.splice(0, 2)[1]!;
  const [resource = '', name = '', subresource = ''] = parts;
  const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
  const verb = VERBS[method]?.(Boolean(name), watch) ?? method.toLowerCase();
  return { verb, group: m?.groups?.group ?? '', resource, subresource, namespace, name };
}

const matches = (f: Match, r: Omit<ProxiedRequest, 'code' | 'body'>) =>
  (f.verb ?? r.verb) === r.verb &&
  (f.resource ?? r.resource) === r.resource &&
  (f.subresource ?? '') === r.subresource &&
  (f.name ?? r.name) === r.name;

const readBody = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

/** Starts the proxy in front of `upstream`'s cluster; its kubeconfig goes into `dir`. */
export async function startKubeProxy(upstream: KubeConfig, dir: string): Promise<KubeProxy> {
  const cluster = upstream.getCurrentCluster()!;
  const user = upstream.getCurrentUser()!;
  const target = new URL(cluster.server);
  const fileOrData = (data?: string, file?: string) =>
    data ? Buffer.from(data, 'base64') : file ? readFileSync(file) : undefined;
  const ca = fileOrData(cluster.caData, cluster.caFile);
  // An upstream user with a client certificate (the admin) is authenticated by the proxy's own TLS
  // connection; a token (a ServiceAccount) travels in the clients' requests.
  const cert = fileOrData(user.certData, user.certFile);
  const key = fileOrData(user.keyData, user.keyFile);
  const proxy: KubeProxy = {
    url: '',
    kubeconfig: join(dir, 'proxy.kubeconfig'),
    faults: [],
    served: [],
    close: async () => undefined,
  };

  const server: Server = createServer(
    (req, res) =>
      void (async () => {
        const body = await readBody(req);
        const about = describeRequest(req.method ?? 'GET', req.url ?? '/');
        const record = (code: number) => {
          const r = { ...about, code, body: body.toString() };
          if (about.resource) proxy.served.push(r);
          return r;
        };
        const at = proxy.faults.findIndex((f) => matches(f, about));
        const fault = at >= 0 ? proxy.faults.splice(at, 1)[0] : undefined;
        if (fault?.kind === 'error') {
          record(500);
          res.writeHead(500, { 'Content-Type': 'application/json' }).end(
            JSON.stringify({
              kind: 'Status',
              apiVersion: 'v1',
              status: 'Failure',
              reason: 'InternalError',
              code: 500,
              message: 'Internal error occurred: injected by the test proxy',
            }),
          );
          return;
        }
        if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
        const upstreamReq = request(
          {
            host: target.hostname,
            port: target.port,
            path: req.url,
            method: req.method,
            ca,
            cert,
            key,
            rejectUnauthorized: Boolean(ca),
            headers: { ...req.headers, host: target.host },
          },
          (upstreamRes) =>
            void (async () => {
              const code = upstreamRes.statusCode ?? 502;
              const r = record(code);
              await proxy.beforeAnswer?.(r);
              res.writeHead(code, upstreamRes.headers);
              upstreamRes.pipe(res);
              if (fault?.kind === 'drop-watch')
                setTimeout(() => {
                  upstreamRes.destroy();
                  res.destroy();
                }, fault.ms);
            })().catch((err: unknown) => res.destroy(err as Error)),
        );
        upstreamReq.on('error', (err) => res.destroy(err));
        res.on('close', () => upstreamReq.destroy());
        upstreamReq.end(body);
      })().catch((err: unknown) => res.destroy(err as Error)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const namespace = upstream.getContextObject(upstream.getCurrentContext())?.namespace ?? 'default';
  writeFileSync(
    proxy.kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'proxy',
      // Plain HTTP on loopback (the proxy forwards over TLS): @kubernetes/client-node refuses an http://
      // server unless TLS verification is marked off, though there is no TLS on this hop to verify.
      clusters: [{ name: 'proxy', cluster: { server: proxy.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'proxy', user: { token: user.token } }],
      contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxy', namespace } }],
    }),
    { mode: 0o600 },
  );
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
