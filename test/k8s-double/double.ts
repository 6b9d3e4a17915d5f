import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf, discoveryDocument, findResource, RESOURCES, VERSION, type ResourceType } from './discovery.js';
import {
  jsonPatch, matchesFieldSelector, matchesLabelSelector, matchesSelector, mergePatch, notFound, StatusError, type Obj,
} from './wire.js';

/** One request the double served, in RBAC terms. */
export interface ServedRequest {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  /** The HTTP status the double answered. */
  code?: number;
}

export interface DoubleOptions {
  /** How long an evicted or deleted pod stays Terminating before it is gone. */
  podTerminationMs: number;
  /** How long a ReplicaSet takes to bring back a replacement for a pod that went away (created Ready). */
  replacementDelayMs: number;
  /** How long a Deployment rollout takes before its new ReplicaSet is available. */
  rolloutDelayMs: number;
}

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface WatchEvent { resourceVersion: number; type: WatchEventType; t: ResourceType; object: Obj }
interface Watcher { t: ResourceType; namespace?: string; params: URLSearchParams; res: ServerResponse }
/** How many past events a watch from an older resourceVersion can resume from (the API server's watch cache). */
const WATCH_CACHE_SIZE = 10_000;

const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';

const key = (t: ResourceType, namespace: string | undefined, name: string) => `${t.group}/${t.resource}/${t.namespaced ? namespace : ''}/${name}`;
const resource = (group: string, name: string) => findResource(group, group === 'metrics.k8s.io' ? 'v1beta1' : 'v1', name)!;
const NODES = resource('', 'nodes');
const PODS = resource('', 'pods');
const DEPLOYMENTS = resource('apps', 'deployments');
const REPLICASETS = resource('apps', 'replicasets');
const PDBS = resource('policy', 'poddisruptionbudgets');
const typeOf = (obj: Obj) => RESOURCES.find((r) => r.kind === obj.kind && apiVersionOf(r) === obj.apiVersion)!;
/** JSON with sorted keys: equal objects compare equal whatever order a client serialized them in. */
const canonical = (v: unknown): string => JSON.stringify(v, (_k, val: unknown) =>
  val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => a.localeCompare(b))) : val);
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const suffix = () => randomUUID().replace(/-/g, '').slice(0, 5);

const condition = (type: string, status: 'True' | 'False', reason: string, message = '') => ({
  type, status, reason, message, lastTransitionTime: now(), lastUpdateTime: now(), lastHeartbeatTime: now(),
});
export const isReady = (obj: Obj) => ((obj.status?.conditions ?? []) as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True');
const controllerOf = (obj: Obj): Obj | undefined => ((obj.metadata?.ownerReferences ?? []) as Obj[]).find((o) => o.controller);
const revisionOf = (rs: Obj) => Number(rs.metadata?.annotations?.[REVISION] ?? 0);

/**
 * A Kubernetes API server on loopback for tests: the real REST protocol (JSON, Status errors,
 * resourceVersion, selectors, merge/strategic/JSON patches, discovery, dry run) over a stateful
 * store, plus the controllers a maintenance test needs: ReplicaSets replace pods that went away,
 * Deployments roll out (or get stuck past their progress deadline), nodes reboot.
 */
export class KubeDouble {
  readonly served: ServedRequest[] = [];
  /** Images whose pods never become Ready: a rollout to one exceeds its progress deadline. */
  readonly failingImages = new Set<string>();
  /** What `pods/log` answers, per pod and container. */
  podLogs: (pod: Obj, container: string) => string = () => '';
  /** Usage served by metrics.k8s.io, per pod; undefined leaves the pod out. */
  podUsage: (pod: Obj) => { cpu: string; memory: string } | undefined = () => undefined;
  metricsApi = true;
  /** Requests to answer with a 500 before doing anything, as an API server hiccup would: the first matching request each. */
  readonly faults: { verb: string; resource: string; subresource?: string }[] = [];
  /** Called after each resource request is answered: lets a test act between two requests of an activity. */
  onServed?: (request: ServedRequest) => void;
  url = '';
  private readonly objects = new Map<string, Obj>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pendingReplacements = new Map<string, number>();
  private readonly rolloutTokens = new Map<string, number>();
  private resourceVersion = 1000;
  private readonly events: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private server?: Server;
  readonly options: DoubleOptions;

  constructor(options: Partial<DoubleOptions> = {}) {
    this.options = { podTerminationMs: 50, replacementDelayMs: 50, rolloutDelayMs: 100, ...options };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A kubeconfig for this server, usable by `KubeConfig.loadFromFile` and `kubectl --kubeconfig`. */
  writeKubeconfig(namespace = 'default'): string {
    const path = join(mkdtempSync(join(tmpdir(), 'kube-double-')), 'kubeconfig');
    writeFileSync(path, [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: double',
      `  cluster: { server: "${this.url}", insecure-skip-tls-verify: true }`,
      'users:',
      '- name: maintenance',
      '  user: { token: double-token }',
      'contexts:',
      '- name: double',
      `  context: { cluster: double, user: maintenance, namespace: ${namespace} }`,
      'current-context: double',
      '',
    ].join('\n'));
    return path;
  }

  // ---- state access for tests ----

  get(group: string, res: string, namespace: string | undefined, name: string): Obj | undefined {
    const o = this.objects.get(key(resource(group, res), namespace, name));
    return o && structuredClone(o);
  }

  list(group: string, res: string, namespace?: string): Obj[] {
    return this.scan(resource(group, res), namespace).map((o) => structuredClone(o));
  }

  /** The stored objects themselves, for the double's own controllers: no copies (a drain of 1000 pods stays fast). */
  private scan(t: ResourceType, namespace?: string): Obj[] {
    return [...this.objects.values()].filter((o) => o.kind === t.kind && o.apiVersion === apiVersionOf(t) && (!namespace || o.metadata.namespace === namespace));
  }

  /** Creates an object as the API would (uid, resourceVersion, generation) and runs its controller. */
  create(group: string, res: string, body: Obj): Obj {
    const t = resource(group, res);
    const obj = this.insert(t, body.metadata?.namespace, body);
    return structuredClone(obj);
  }

  /** Changes an object in place the way a controller or kubelet would (no generation bump). */
  update(group: string, res: string, namespace: string | undefined, name: string, change: (o: Obj) => void): Obj {
    const t = resource(group, res);
    const current = this.objects.get(key(t, namespace, name));
    if (!current) throw notFound(t.resource, name, t.group);
    const next = structuredClone(current);
    change(next);
    return structuredClone(this.write(t, next, current));
  }

  /** Deletes at once, as a force delete or a kubelet finishing a pod's termination would. */
  deleteNow(group: string, res: string, namespace: string | undefined, name: string): void {
    const t = resource(group, res);
    this.remove(t, this.mustGet(t, namespace, name), { immediate: true, orphan: false });
  }

  /** The node goes NotReady now and comes back Ready with a new boot id after `delayMs`. */
  rebootNode(name: string, delayMs: number, kubeletVersion?: string): void {
    this.setNodeReady(name, false);
    this.later(delayMs, () => {
      this.update('', 'nodes', undefined, name, (n) => {
        n.status.nodeInfo.bootID = randomUUID();
        if (kubeletVersion) n.status.nodeInfo.kubeletVersion = kubeletVersion;
      });
      this.setNodeReady(name, true);
    });
  }

  setNodeReady(name: string, ready: boolean): void {
    this.update('', 'nodes', undefined, name, (n) => {
      n.status.conditions = (n.status.conditions as Obj[]).map((c) => c.type !== 'Ready' ? c
        : condition('Ready', ready ? 'True' : 'False', ready ? 'KubeletReady' : 'KubeletNotReady', ready ? 'kubelet is posting ready status' : 'node is rebooting'));
    });
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    // route() is synchronous: whatever it appended to `served` belongs to this request.
    const servedBefore = this.served.length;
    let code: number;
    try {
      const raw = Buffer.concat(chunks).toString();
      const result = this.route(req.method ?? 'GET', url, raw, String(req.headers['content-type'] ?? ''));
      code = result.code;
      if (result.watch) this.startWatch({ ...result.watch, res });
      else if (typeof result.body === 'string') res.writeHead(code, { 'Content-Type': 'text/plain' }).end(result.body);
      else res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(result.body));
    } catch (err) {
      const status = err instanceof StatusError ? err : new StatusError(500, 'InternalError', (err as Error).message);
      code = status.code;
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(status.body));
    }
    const entry = this.served[servedBefore];
    if (entry) {
      entry.code = code;
      this.onServed?.(entry);
    }
  }

  private route(method: string, url: URL, raw: string, contentType: string): { code: number; body: Obj | string; watch?: Omit<Watcher, 'res'> } {
    const path = url.pathname.replace(/\/$/, '');
    if (method === 'GET' && path === '/version') return { code: 200, body: VERSION };
    const discovery = method === 'GET' ? discoveryDocument(path, this.url.replace('http://', '')) : undefined;
    if (discovery) return { code: 200, body: discovery };

    const m = path.match(/^\/(?:api\/(?<v1>v1)|apis\/(?<group>[^/]+)\/(?<version>[^/]+))\/(?<rest>.+)$/);
    if (!m?.groups) throw new StatusError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    const parts = m.groups.rest!.split('/');
    let namespace: string | undefined;
    if (parts[0] === 'namespaces' && parts.length >= 3) {
      namespace = parts[1];
      parts.splice(0, 2);
    }
    const [res, name, subresource = ''] = parts as [string, string | undefined, string | undefined];
    const t = findResource(m.groups.group ?? '', m.groups.version ?? 'v1', res);
    if (!t) throw new StatusError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    const watch = url.searchParams.get('watch') === 'true';
    const verb = ({ GET: name ? 'get' : watch ? 'watch' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection' } as Record<string, string>)[method] ?? method.toLowerCase();
    this.served.push({ verb, group: t.group, resource: t.resource, subresource, namespace: namespace ?? '' });
    const fault = this.faults.findIndex((f) => f.verb === verb && f.resource === t.resource && (f.subresource ?? '') === subresource);
    if (fault >= 0) {
      this.faults.splice(fault, 1);
      throw new StatusError(500, 'InternalError', 'Internal error occurred: injected by the test');
    }
    if (watch) {
      if (t.group === 'metrics.k8s.io' || subresource) throw new StatusError(405, 'MethodNotAllowed', `watch is not supported on ${t.resource}`);
      return { code: 200, body: {}, watch: { t, namespace, params: url.searchParams } };
    }
    if (t.group === 'metrics.k8s.io') return { code: 200, body: this.metrics(t, namespace, name) };

    const body = raw ? (JSON.parse(raw) as Obj) : {};
    if (subresource === 'eviction' && method === 'POST') return { code: 201, body: this.evict(namespace!, name!) };
    if (subresource === 'log' && method === 'GET') return { code: 200, body: this.log(namespace!, name!, url.searchParams.get('container')) };
    if (subresource) throw new StatusError(404, 'NotFound', `the double does not serve ${t.resource}/${subresource}`);

    const dryRun = url.searchParams.get('dryRun') === 'All';
    switch (verb) {
      case 'list': return { code: 200, body: this.listBody(t, namespace, url.searchParams) };
      case 'get': return { code: 200, body: this.present(t, this.mustGet(t, namespace, name!)) };
      case 'create': {
        if (dryRun) return { code: 201, body: body };
        return { code: 201, body: this.insert(t, namespace ?? body.metadata?.namespace, body) };
      }
      case 'update': {
        const current = this.mustGet(t, namespace, name!);
        if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== current.metadata.resourceVersion) {
          throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${t.resource}.${t.group || 'core'} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: t.group, kind: t.resource });
        }
        const next = { ...body, metadata: { ...current.metadata, ...body.metadata }, status: current.status };
        return { code: 200, body: dryRun ? next : this.write(t, next, current) };
      }
      case 'patch': {
        const current = this.mustGet(t, namespace, name!);
        let next: Obj;
        if (contentType.startsWith('application/json-patch+json')) next = jsonPatch(current, body as unknown as Obj[]);
        else if (contentType.startsWith('application/merge-patch+json')) next = mergePatch(current, body) as Obj;
        else if (contentType.startsWith('application/strategic-merge-patch+json')) next = mergePatch(current, body, true) as Obj;
        else throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
        return { code: 200, body: dryRun ? next : this.write(t, next, current) };
      }
      case 'delete': {
        const current = this.mustGet(t, namespace, name!);
        if (dryRun) return { code: 200, body: current };
        const grace = body.gracePeriodSeconds ?? url.searchParams.get('gracePeriodSeconds');
        return { code: 200, body: this.remove(t, current, { immediate: Number(grace) === 0, orphan: (body.propagationPolicy ?? url.searchParams.get('propagationPolicy')) === 'Orphan' }) };
      }
      default: throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${t.resource}`);
    }
  }

  private mustGet(t: ResourceType, namespace: string | undefined, name: string): Obj {
    const obj = this.objects.get(key(t, namespace, name));
    if (!obj) throw notFound(t.resource, name, t.group);
    return obj;
  }

  private listBody(t: ResourceType, namespace: string | undefined, params: URLSearchParams): Obj {
    const items = this.scan(t, namespace).filter((o) =>
      matchesLabelSelector(o.metadata.labels, params.get('labelSelector')) && matchesFieldSelector(o, params.get('fieldSelector')));
    return {
      kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(this.resourceVersion) },
      items: items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`)).map((o) => this.present(t, o)),
    };
  }

  /** PDB status is computed when read, as the disruption controller would have it. */
  private present(t: ResourceType, obj: Obj): Obj {
    return t === PDBS ? { ...obj, status: this.pdbStatus(obj) } : obj;
  }

  private insert(t: ResourceType, namespace: string | undefined, body: Obj): Obj {
    const name = body.metadata?.name ?? (body.metadata?.generateName ? this.unusedName(t, namespace, body.metadata.generateName) : undefined);
    if (!name) throw new StatusError(422, 'Invalid', `${t.kind} is invalid: metadata.name: Required value`);
    if (this.objects.has(key(t, namespace, name))) {
      throw new StatusError(409, 'AlreadyExists', `${t.resource} "${name}" already exists`, { name, group: t.group, kind: t.resource });
    }
    const obj: Obj = {
      ...structuredClone(body),
      apiVersion: apiVersionOf(t),
      kind: t.kind,
      metadata: {
        ...body.metadata, name, uid: randomUUID(), creationTimestamp: now(),
        ...(t.namespaced ? { namespace: namespace ?? 'default' } : {}),
        ...(body.spec && t !== PODS && t !== NODES ? { generation: 1 } : {}),
      },
    };
    return this.write(t, obj, undefined);
  }

  /** `generateName`: a random suffix, drawn again on the rare collision (thousands of pods in a bench). */
  private unusedName(t: ResourceType, namespace: string | undefined, prefix: string): string {
    for (;;) {
      const name = `${prefix}${suffix()}`;
      if (!this.objects.has(key(t, namespace, name))) return name;
    }
  }

  private write(t: ResourceType, proposed: Obj, before: Obj | undefined): Obj {
    // Patches share unchanged subtrees with the stored object: copy before stamping metadata.
    const next = structuredClone(proposed);
    next.metadata.resourceVersion = String(++this.resourceVersion);
    if (before && next.metadata.generation !== undefined && canonical(before.spec) !== canonical(next.spec)) {
      next.metadata.generation = before.metadata.generation + 1;
    }
    this.objects.set(key(t, next.metadata.namespace, next.metadata.name), next);
    this.emit(before ? 'MODIFIED' : 'ADDED', t, next);
    if (t === DEPLOYMENTS && next.metadata.generation !== before?.metadata.generation) this.syncDeployment(next.metadata.namespace, next.metadata.name);
    if (t === REPLICASETS && before?.spec?.replicas !== next.spec?.replicas) this.reconcileReplicaSet(next, 0);
    if (t === NODES && (before?.spec?.unschedulable !== next.spec?.unschedulable || isReady(before ?? {}) !== isReady(next))) this.schedulePending();
    return next;
  }

  private remove(t: ResourceType, obj: Obj, { immediate, orphan }: { immediate: boolean; orphan: boolean }): Obj {
    if (t === PODS && !immediate) {
      if (obj.metadata.deletionTimestamp) return obj;
      const terminating = this.update('', 'pods', obj.metadata.namespace, obj.metadata.name, (p) => {
        p.metadata.deletionTimestamp = now();
        p.metadata.deletionGracePeriodSeconds = 30;
      });
      this.later(this.options.podTerminationMs, () => this.remove(t, terminating, { immediate: true, orphan }));
      return terminating;
    }
    const k = key(t, obj.metadata.namespace, obj.metadata.name);
    if (this.objects.get(k)?.metadata.uid !== obj.metadata.uid) return obj;
    this.objects.delete(k);
    this.emit('DELETED', t, { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.resourceVersion) } });
    if (!orphan) {
      for (const dependent of [...this.objects.values()].filter((o) => controllerOf(o)?.uid === obj.metadata.uid)) {
        this.remove(typeOf(dependent), dependent, { immediate: false, orphan: false });
      }
    }
    if (t === PODS) this.onPodGone(obj);
    return obj;
  }

  // ---- watches ----

  /**
   * `?watch=true` as the API server streams it: one JSON event per line. From a given
   * resourceVersion it replays the cached events after it (410 Gone when they have left the cache);
   * without one it starts with a synthetic ADDED per current object. Ends after timeoutSeconds.
   */
  private startWatch(w: Watcher): void {
    const from = w.params.get('resourceVersion');
    const oldest = this.events[0]?.resourceVersion ?? this.resourceVersion + 1;
    w.res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    if (from && from !== '0' && Number(from) < oldest - 1) {
      w.res.end(`${JSON.stringify({ type: 'ERROR', object: new StatusError(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`).body })}\n`);
      return;
    }
    const backlog = from && from !== '0'
      ? this.events.filter((e) => e.resourceVersion > Number(from) && e.t === w.t)
      : this.scan(w.t, w.namespace).map((object) => ({ resourceVersion: 0, type: 'ADDED' as const, t: w.t, object }));
    for (const e of backlog) this.send(w, e.type, e.object);
    this.watchers.add(w);
    const timeout = Number(w.params.get('timeoutSeconds') ?? 1800);
    const timer = setTimeout(() => w.res.end(), timeout * 1000);
    w.res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(w);
    });
  }

  private send(w: Watcher, type: WatchEventType, obj: Obj): void {
    if (w.namespace && obj.metadata.namespace !== w.namespace) return;
    if (!matchesLabelSelector(obj.metadata.labels, w.params.get('labelSelector')) || !matchesFieldSelector(obj, w.params.get('fieldSelector'))) return;
    w.res.write(`${JSON.stringify({ type, object: this.present(w.t, obj) })}\n`);
  }

  /** Stored objects are replaced on every write, never changed in place: events can share them. */
  private emit(type: WatchEventType, t: ResourceType, object: Obj): void {
    this.events.push({ resourceVersion: Number(object.metadata.resourceVersion), type, t, object });
    // Trimmed in chunks: shifting the whole cache on every write would make each write O(cache).
    if (this.events.length > 2 * WATCH_CACHE_SIZE) this.events.splice(0, this.events.length - WATCH_CACHE_SIZE);
    for (const w of this.watchers) if (w.t === t) this.send(w, type, object);
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      // A controller's failure must not take the API server down with it: log it, keep serving.
      try {
        fn();
      } catch (err) {
        console.error('k8s double: controller failed:', err);
      }
    }, ms);
    this.timers.add(timer);
  }

  // ---- eviction and disruption budgets ----

  private pdbStatus(pdb: Obj): Obj {
    const pods = this.scan(PODS, pdb.metadata.namespace).filter((p) => matchesSelector(p.metadata.labels, pdb.spec.selector));
    const owners = new Map<string, number>();
    let unowned = 0;
    for (const p of pods) {
      const owner = controllerOf(p);
      const rs = owner?.kind === 'ReplicaSet' ? this.get('apps', 'replicasets', p.metadata.namespace, owner.name) : undefined;
      if (rs) owners.set(rs.metadata.uid, rs.spec.replicas ?? 1);
      else if (!p.metadata.deletionTimestamp) unowned += 1;
    }
    const expectedPods = [...owners.values()].reduce((a, b) => a + b, 0) + unowned;
    const currentHealthy = pods.filter((p) => !p.metadata.deletionTimestamp && isReady(p)).length;
    const resolve = (v: number | string) => (typeof v === 'string' && v.endsWith('%') ? Math.ceil((expectedPods * parseInt(v, 10)) / 100) : Number(v));
    const desiredHealthy = pdb.spec.minAvailable !== undefined ? resolve(pdb.spec.minAvailable) : expectedPods - resolve(pdb.spec.maxUnavailable ?? 0);
    return {
      observedGeneration: pdb.metadata.generation, currentHealthy, desiredHealthy, expectedPods,
      disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy),
      conditions: [condition('DisruptionAllowed', currentHealthy > desiredHealthy ? 'True' : 'False', currentHealthy > desiredHealthy ? 'SufficientPods' : 'InsufficientPods')],
    };
  }

  private evict(namespace: string, name: string): Obj {
    const pod = this.mustGet(PODS, namespace, name);
    const success = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
    if (pod.metadata.deletionTimestamp) return success;
    const pdbs = this.scan(PDBS, namespace).filter((b) => matchesSelector(pod.metadata.labels, b.spec.selector));
    if (pdbs.length > 1) throw new StatusError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    const pdb = pdbs[0];
    if (pdb) {
      const s = this.pdbStatus(pdb);
      // Default unhealthyPodEvictionPolicy (IfHealthyBudget): an unready pod may go while the budget is met.
      const allowed = isReady(pod) ? s.disruptionsAllowed > 0 : s.currentHealthy >= s.desiredHealthy;
      if (!allowed) {
        throw new StatusError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${pdb.metadata.name} needs ${s.desiredHealthy} healthy pods and has ${s.currentHealthy} currently` }],
        });
      }
    }
    this.remove(PODS, pod, { immediate: false, orphan: false });
    return success;
  }

  private log(namespace: string, name: string, container: string | null): string {
    const pod = this.mustGet(PODS, namespace, name);
    const names = (pod.spec.containers as Obj[]).map((c) => c.name as string);
    if (!container && names.length > 1) {
      throw new StatusError(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
    }
    const chosen = container ?? names[0]!;
    if (!names.includes(chosen)) throw new StatusError(400, 'BadRequest', `container ${chosen} is not valid for pod ${name}`);
    return this.podLogs(pod, chosen);
  }

  private metrics(t: ResourceType, namespace: string | undefined, name: string | undefined): Obj {
    if (!this.metricsApi) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    if (t.resource === 'nodes') {
      const items = this.list('', 'nodes').map((n) => ({ metadata: { name: n.metadata.name }, timestamp: now(), window: '30s', usage: { cpu: '100m', memory: '1Gi' } }));
      return { kind: 'NodeMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {}, items };
    }
    const items = this.list('', 'pods', namespace).filter((p) => !name || p.metadata.name === name).flatMap((p) => {
      const usage = this.podUsage(p);
      if (!usage) return [];
      return [{
        metadata: { name: p.metadata.name, namespace: p.metadata.namespace, labels: p.metadata.labels }, timestamp: now(), window: '30s',
        containers: (p.spec.containers as Obj[]).map((c) => ({ name: c.name, usage })),
      }];
    });
    if (name) {
      if (!items[0]) throw notFound('pods', name, 'metrics.k8s.io');
      return { kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', ...items[0] };
    }
    return { kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {}, items };
  }

  // ---- controllers ----

  private activePods(rs: Obj): Obj[] {
    return this.scan(PODS, rs.metadata.namespace).filter((p) => controllerOf(p)?.uid === rs.metadata.uid && !p.metadata.deletionTimestamp);
  }

  /** ReplicaSet controller: as many live pods as `spec.replicas`; replacements after `delayMs`. */
  private reconcileReplicaSet(rs: Obj, delayMs: number): void {
    const uid = rs.metadata.uid as string;
    const active = this.activePods(rs);
    const missing = (rs.spec.replicas ?? 0) - active.length - (this.pendingReplacements.get(uid) ?? 0);
    if (missing < 0) {
      const extra = active.sort((a, b) => Number(isReady(a)) - Number(isReady(b))).slice(0, -missing);
      for (const p of extra) this.remove(PODS, p, { immediate: false, orphan: false });
      return;
    }
    if (missing === 0) return;
    this.pendingReplacements.set(uid, (this.pendingReplacements.get(uid) ?? 0) + missing);
    const createAll = () => {
      this.pendingReplacements.set(uid, (this.pendingReplacements.get(uid) ?? 0) - missing);
      const current = this.get('apps', 'replicasets', rs.metadata.namespace, rs.metadata.name);
      if (!current || current.metadata.uid !== uid) return;
      const want = Math.min(missing, (current.spec.replicas ?? 0) - this.activePods(current).length);
      for (let i = 0; i < want; i += 1) this.createPodFor(current);
    };
    if (delayMs === 0) createAll();
    else this.later(delayMs, createAll);
  }

  private createPodFor(rs: Obj): void {
    const template = rs.spec.template as Obj;
    const healthy = !(template.spec.containers as Obj[]).some((c) => this.failingImages.has(c.image));
    const node = this.pickNode();
    this.insert(PODS, rs.metadata.namespace, {
      metadata: {
        name: this.unusedName(PODS, rs.metadata.namespace, `${rs.metadata.name}-`), labels: { ...template.metadata?.labels }, annotations: { ...template.metadata?.annotations },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...structuredClone(template.spec), ...(node ? { nodeName: node } : {}) },
      status: podStatus(Boolean(node), healthy),
    });
  }

  /** The scheduler: the Ready, schedulable node with the fewest pods. */
  private pickNode(): string | undefined {
    const counts = new Map<string, number>();
    for (const p of this.scan(PODS)) if (p.spec.nodeName && !p.metadata.deletionTimestamp) counts.set(p.spec.nodeName, (counts.get(p.spec.nodeName) ?? 0) + 1);
    const candidates = this.scan(NODES).filter((n) => !n.spec?.unschedulable && isReady(n));
    candidates.sort((a, b) => (counts.get(a.metadata.name) ?? 0) - (counts.get(b.metadata.name) ?? 0) || a.metadata.name.localeCompare(b.metadata.name));
    return candidates[0]?.metadata.name;
  }

  private schedulePending(): void {
    for (const p of this.scan(PODS).filter((pod) => !pod.spec.nodeName && !pod.metadata.deletionTimestamp)) {
      const node = this.pickNode();
      if (!node) return;
      const healthy = !(p.spec.containers as Obj[]).some((c) => this.failingImages.has(c.image));
      this.update('', 'pods', p.metadata.namespace, p.metadata.name, (pod) => {
        pod.spec.nodeName = node;
        pod.status = podStatus(true, healthy);
      });
    }
  }

  private onPodGone(pod: Obj): void {
    const owner = controllerOf(pod);
    if (owner?.kind !== 'ReplicaSet') return;
    const rs = this.get('apps', 'replicasets', pod.metadata.namespace, owner.name);
    if (rs && rs.metadata.uid === owner.uid) this.reconcileReplicaSet(rs, this.options.replacementDelayMs);
  }

  /**
   * Deployment controller: the ReplicaSet whose template matches becomes the newest revision
   * (an old one is reused and its old revision recorded in revision-history, as a rollback does);
   * after `rolloutDelayMs` it holds every replica, unless its image fails, in which case the
   * rollout stalls with one unready pod and exceeds `progressDeadlineSeconds`.
   */
  private syncDeployment(namespace: string, name: string): void {
    const dep = this.get('apps', 'deployments', namespace, name)!;
    const template = structuredClone(dep.spec.template) as Obj;
    const hash = createHash('sha1').update(canonical(template)).digest('hex').slice(0, 10);
    const owned = this.scan(REPLICASETS, namespace).filter((rs) => controllerOf(rs)?.uid === dep.metadata.uid);
    const maxRevision = Math.max(0, ...owned.map(revisionOf));
    let target = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    if (!target) {
      target = this.insert(REPLICASETS, namespace, {
        metadata: {
          name: `${name}-${hash}`, labels: { ...template.metadata?.labels, 'pod-template-hash': hash }, annotations: { [REVISION]: String(maxRevision + 1) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: dep.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          replicas: 0,
          selector: { matchLabels: { ...dep.spec.selector?.matchLabels, 'pod-template-hash': hash } },
          template: { ...template, metadata: { ...template.metadata, labels: { ...template.metadata?.labels, 'pod-template-hash': hash } } },
        },
      });
    } else if (revisionOf(target) !== maxRevision) {
      const history = [target.metadata.annotations?.[REVISION_HISTORY], String(revisionOf(target))].filter(Boolean).join(',');
      target = this.update('apps', 'replicasets', namespace, target.metadata.name, (rs) => {
        rs.metadata.annotations = { ...rs.metadata.annotations, [REVISION]: String(maxRevision + 1), [REVISION_HISTORY]: history };
      });
    }
    const newRs = target;
    const desired = dep.spec.replicas ?? 1;
    const old = owned.filter((rs) => rs.metadata.uid !== newRs.metadata.uid);
    const healthy = !(template.spec.containers as Obj[]).some((c) => this.failingImages.has(c.image));
    const token = (this.rolloutTokens.get(dep.metadata.uid) ?? 0) + 1;
    this.rolloutTokens.set(dep.metadata.uid, token);
    const current = () => this.rolloutTokens.get(dep.metadata.uid) === token && this.get('apps', 'deployments', namespace, name);
    const oldAvailable = old.reduce((n, rs) => n + this.activePods(rs).filter(isReady).length, 0);
    const setStatus = (status: Obj) => this.update('apps', 'deployments', namespace, name, (d) => {
      d.metadata.annotations = { ...d.metadata.annotations, [REVISION]: String(revisionOf(this.get('apps', 'replicasets', namespace, newRs.metadata.name)!)) };
      d.status = { ...d.status, observedGeneration: d.metadata.generation, ...status };
    });
    const progressing = condition('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${newRs.metadata.name}" is progressing.`);
    const available = (ok: boolean) => condition('Available', ok ? 'True' : 'False', ok ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', ok ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.');

    if (healthy) {
      setStatus({ replicas: desired + (newRs.spec.replicas ?? 0), updatedReplicas: this.activePods(newRs).length, availableReplicas: oldAvailable, conditions: [available(oldAvailable > 0), progressing] });
      const finish = () => {
        if (!current()) return;
        this.update('apps', 'replicasets', namespace, newRs.metadata.name, (rs) => { rs.spec.replicas = desired; });
        for (const rs of old) this.update('apps', 'replicasets', namespace, rs.metadata.name, (r) => { r.spec.replicas = 0; });
        setStatus({
          replicas: desired, updatedReplicas: desired, readyReplicas: desired, availableReplicas: desired, unavailableReplicas: 0,
          conditions: [available(true), condition('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${newRs.metadata.name}" has successfully progressed.`)],
        });
      };
      if (this.options.rolloutDelayMs === 0 || owned.length === 0) finish();
      else this.later(this.options.rolloutDelayMs, finish);
      return;
    }
    this.update('apps', 'replicasets', namespace, newRs.metadata.name, (rs) => { rs.spec.replicas = 1; });
    setStatus({ replicas: oldAvailable + 1, updatedReplicas: 1, readyReplicas: oldAvailable, availableReplicas: oldAvailable, unavailableReplicas: 1, conditions: [available(oldAvailable > 0), progressing] });
    this.later((dep.spec.progressDeadlineSeconds ?? 600) * 1000, () => {
      if (!current()) return;
      setStatus({ conditions: [available(oldAvailable > 0), condition('Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${newRs.metadata.name}" has timed out progressing.`)] });
    });
  }
}

function podStatus(scheduled: boolean, healthy: boolean): Obj {
  if (!scheduled) return { phase: 'Pending', conditions: [condition('PodScheduled', 'False', 'Unschedulable', '0/0 nodes are available')] };
  return {
    phase: 'Running', startTime: now(),
    conditions: [condition('PodScheduled', 'True', ''), condition('Ready', healthy ? 'True' : 'False', healthy ? '' : 'ContainersNotReady')],
    ...(healthy ? {} : { containerStatuses: [{ name: 'main', ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }),
  };
}
