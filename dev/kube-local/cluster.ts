// A local Kubernetes control plane: etcd, kube-apiserver (RBAC, audit log), controller-manager,
// scheduler, and kwok for simulated nodes and kubelets. Used by `npm run up` when no KUBECONFIG is
// given and by the tests (one cluster per suite run). The worker gets a kubeconfig holding the
// token of deploy/rbac.yaml's ServiceAccount, never the admin one.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig, KubernetesObject, KubernetesObjectApi, V1Node } from '@kubernetes/client-node';
import { freePort } from '../../src/net.js';
import { findKubeBinaries, KUBERNETES_VERSION, type KubeBinaries } from './binaries.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KWOK_FILES = join(ROOT, 'scripts', 'kubernetes');
export const RBAC_FILE = join(ROOT, 'deploy', 'rbac.yaml');

/** The worker's identity, as deploy/rbac.yaml binds it. */
export const WORKER_SERVICE_ACCOUNT = { namespace: 'trixtech-maintenance', name: 'trixtech-maintenance' };
export const WORKER_USERNAME = `system:serviceaccount:${WORKER_SERVICE_ACCOUNT.namespace}:${WORKER_SERVICE_ACCOUNT.name}`;
/** Pod annotations: kwok starts these pods and makes them Ready without its default 1-6 s delays. */
export const QUICK_PODS = Object.fromEntries(
  ['pod-create', 'pod-ready'].flatMap((stage) => [
    [`${stage}.stage.kwok.x-k8s.io/delay`, '0s'],
    [`${stage}.stage.kwok.x-k8s.io/jitter-delay`, '0s'],
  ]),
);

/** kwok manages only nodes carrying this annotation. */
export const KWOK_NODE_ANNOTATION = { 'kwok.x-k8s.io/node': 'fake' };
const FIELD_MANAGER = 'trixtech-local-cluster';

/** The Kubernetes client, imported when first needed: about 1.5 s under tsx, which the control plane's own start hides. */
const kubernetesClient = () => import('@kubernetes/client-node');

export interface LocalClusterOptions {
  /** Holds etcd's data, certificates, kubeconfigs, logs and the audit log; made fresh. */
  dir: string;
  /** Simulated nodes made at start (`<nodePrefix>-1` …); more can be added with addNodes. */
  nodes?: number;
  nodePrefix?: string;
  /** How long the worker's token lives. */
  workerTokenSeconds?: number;
  /**
   * Called with the worker's kubeconfig before the control plane starts, so a worker can start
   * beside it. The kubeconfig names the apiserver's certificate and the ServiceAccount token by
   * their files, which exist once the start resolves: a client loading it earlier fails and may
   * try again (the worker loads it at its first Kubernetes activity).
   */
  onWorkerKubeconfig?: (path: string) => void;
  /**
   * Called with the admin kubeconfig once the apiserver serves every API the cluster has (kwok's
   * ClusterLogs included), while kwok still brings the nodes up: workloads applied then are
   * scheduled as soon as a node is Ready.
   */
  onApiReady?: (adminKubeconfig: string) => void;
  binaries?: KubeBinaries;
}

export interface LocalCluster {
  server: string;
  /** cluster-admin (system:masters): for people and test set-up, never for the worker. */
  adminKubeconfig: string;
  /** The ServiceAccount of deploy/rbac.yaml: what the worker uses. */
  workerKubeconfig: string;
  /** The apiserver's audit log (JSON lines, metadata level). */
  auditLog: string;
  /** Directory of ClusterLogs files and component logs. */
  dir: string;
  /**
   * Prometheus HTTP service discovery (`http_sd_configs`) of every node's emulated kubelet
   * resource metrics, `/metrics/nodes/<node>/metrics/resource` (scripts/kubernetes/kwok-metrics.yaml).
   */
  kubeletMetricsDiscovery: string;
  kubectl: string;
  timings: { apiserverReadyMs: number; nodesReadyMs: number };
  addNodes(names: string[], options?: NodeOptions): Promise<void>;
  stop(): Promise<void>;
}

export interface NodeOptions {
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule' }[];
  cpu?: string;
  memory?: string;
}

// Control-plane components do not need the audit trail; the worker's and people's requests do.
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: [system:kube-controller-manager, system:kube-scheduler, system:kwok, system:apiserver]
  - level: None
    nonResourceURLs: ["/readyz*", "/healthz*", "/livez*", "/version"]
  - level: Metadata
`;

interface Component {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** How a kubeconfig trusts the apiserver: its certificate inline, or the file the apiserver writes it to. */
type Trust = { 'certificate-authority-data': string } | { 'certificate-authority': string };
/**
 * A bearer token inline, or the file holding it. The file's key is spelled twice: client-go
 * (kubectl) reads `tokenFile`, @kubernetes/client-node `token-file`; each ignores the other's.
 */
type Credential = { token: string } | { tokenFile: string; 'token-file': string };

const inlineCa = (ca: string): Trust => ({ 'certificate-authority-data': Buffer.from(ca).toString('base64') });

function kubeconfigFor(
  server: string,
  trust: Trust,
  user: string,
  credential: Credential,
  namespace = 'default',
): string {
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'trixtech-local', cluster: { server, ...trust } }],
      users: [{ name: user, user: credential }],
      contexts: [{ name: `${user}@trixtech-local`, context: { cluster: 'trixtech-local', user, namespace } }],
      'current-context': `${user}@trixtech-local`,
    },
    null,
    2,
  )}\n`;
}

/** GET over TLS through `agent` (which trusts the cluster's CA) with a bearer token; resolves to the status code (0: no answer). */
function probe(url: string, agent: Agent, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a component's log, for an error message. */
function tail(file: string, lines = 15): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
}

/**
 * Ports are picked free and bound by the components a moment later: another process starting at the
 * same time (a second suite, `npm run chaos`) can take one in between. A start that loses that race
 * is tried again on new ports, in a fresh `dir`.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocalClusterOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
      rmSync(options.dir, { recursive: true, force: true });
    }
  }
}

async function startLocalClusterOnce(options: LocalClusterOptions): Promise<LocalCluster> {
  const bin = options.binaries ?? findKubeBinaries();
  const { dir } = options;
  const pki = join(dir, 'pki');
  const logs = join(dir, 'logs');
  for (const d of [dir, pki, logs]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const [etcdPort, etcdPeerPort, apiPort, kwokPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const server = `https://127.0.0.1:${apiPort}`;

  // ECDSA (ES256 tokens): an RSA key took 0.2 s to make, ahead of everything else.
  const saKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(pki, 'sa.key'), saKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(pki, 'sa.pub'), saKey.publicKey.export({ type: 'spki', format: 'pem' }));
  // Static tokens: an admin for people and set-up, one identity per component (so the audit policy can leave them out).
  const tokens = {
    admin: randomBytes(24).toString('hex'),
    'system:kube-controller-manager': randomBytes(24).toString('hex'),
    'system:kube-scheduler': randomBytes(24).toString('hex'),
    'system:kwok': randomBytes(24).toString('hex'),
  };
  writeFileSync(
    join(pki, 'tokens.csv'),
    Object.entries(tokens)
      .map(([user, t]) => `${t},${user},${randomUUID()},"system:masters"`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
  const auditLog = join(dir, 'audit.log');
  // The apiserver writes its self-signed serving certificate (what clients trust) here at start.
  const caFile = join(pki, 'apiserver.crt');
  // Written before anything starts, naming the CA and token files rather than holding them, so a
  // worker can start beside the control plane; both files exist once the start resolves.
  const workerTokenFile = join(dir, 'worker.token');
  const workerKubeconfig = join(dir, 'worker.kubeconfig');
  writeFileSync(
    workerKubeconfig,
    kubeconfigFor(server, { 'certificate-authority': caFile }, WORKER_SERVICE_ACCOUNT.name, {
      tokenFile: workerTokenFile,
      'token-file': workerTokenFile,
    }),
    { mode: 0o600 },
  );
  options.onWorkerKubeconfig?.(workerKubeconfig);

  const components: Component[] = [];
  const stop = async () => {
    for (const c of [...components].reverse()) {
      if (c.child.exitCode !== null || c.child.signalCode !== null) continue;
      c.child.kill('SIGTERM');
      const timer = setTimeout(() => c.child.kill('SIGKILL'), 5_000);
      await c.exited;
      clearTimeout(timer);
    }
  };
  const start = (name: string, binary: string, args: string[]): Component => {
    const log = openSync(join(logs, `${name}.log`), 'a');
    const child = spawn(binary, args, { stdio: ['ignore', log, log] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const c = { name, child, exited };
    components.push(c);
    return c;
  };
  /** Polls `ready` until it holds; fails at once, with the log's tail, if the component exits. */
  const waitFor = async (c: Component, what: string, ready: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (c.child.exitCode !== null)
        throw new Error(
          `${c.name} exited with code ${c.child.exitCode} before ${what}:\n${tail(join(logs, `${c.name}.log`))}`,
        );
      if (Date.now() > deadline)
        throw new Error(`${what}: not within ${timeoutMs / 1000} s (log: ${join(logs, `${c.name}.log`)})`);
      await pause(100);
    }
  };

  try {
    const started = Date.now();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = start('etcd', bin.etcd, [
      '--name',
      'local',
      '--data-dir',
      join(dir, 'etcd'),
      '--log-level',
      'warn',
      '--listen-client-urls',
      etcdUrl,
      '--advertise-client-urls',
      etcdUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeerPort}`,
      '--initial-cluster',
      `local=http://127.0.0.1:${etcdPeerPort}`,
      // A throwaway cluster: losing it on a power cut is fine, and fsync on a shared disk is slow.
      '--unsafe-no-fsync',
    ]);
    await waitFor(etcd, 'etcd answering', () =>
      fetch(`${etcdUrl}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    );

    const apiserver = start('kube-apiserver', bin.apiserver, [
      '--etcd-servers',
      etcdUrl,
      '--bind-address',
      '127.0.0.1',
      '--advertise-address',
      '127.0.0.1',
      '--secure-port',
      String(apiPort),
      '--cert-dir',
      pki,
      '--token-auth-file',
      join(pki, 'tokens.csv'),
      '--service-account-issuer',
      'https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file',
      join(pki, 'sa.pub'),
      '--service-account-signing-key-file',
      join(pki, 'sa.key'),
      '--authorization-mode',
      'Node,RBAC',
      // As kubeadm and managed clusters run it: node jobs (nodeUpdate method "job", nodeDiskCleanup) are privileged pods.
      '--allow-privileged=true',
      '--service-cluster-ip-range',
      '10.96.0.0/16',
      '--audit-policy-file',
      join(dir, 'audit-policy.yaml'),
      '--audit-log-path',
      auditLog,
      '--audit-log-format',
      'json',
    ]);
    // Loaded while the apiserver starts.
    const k8s = kubernetesClient();
    k8s.catch(() => undefined);
    // One kept-alive connection for the polls: a TLS handshake per poll cost both ends CPU the start
    // needs. Made again after a poll without an answer, in case the certificate was read half-written.
    let agent: Agent | undefined;
    await waitFor(apiserver, 'kube-apiserver /readyz', async () => {
      if (!existsSync(caFile)) return false;
      agent ??= new Agent({ ca: readFileSync(caFile, 'utf8'), keepAlive: true, maxSockets: 1 });
      const status = await probe(`${server}/readyz`, agent, tokens.admin);
      if (status === 0) {
        agent.destroy();
        agent = undefined;
      }
      return status === 200;
    });
    agent?.destroy();
    const apiserverReadyMs = Date.now() - started;
    const ca = inlineCa(readFileSync(caFile, 'utf8'));

    const adminKubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(adminKubeconfig, kubeconfigFor(server, ca, 'admin', { token: tokens.admin }), { mode: 0o600 });
    const componentKubeconfig = (user: keyof typeof tokens) => {
      const file = join(pki, `${user.replace(/[^a-z-]/g, '_')}.kubeconfig`);
      writeFileSync(file, kubeconfigFor(server, ca, user, { token: tokens[user] }), { mode: 0o600 });
      return file;
    };
    const cmKubeconfig = componentKubeconfig('system:kube-controller-manager');
    const schedulerKubeconfig = componentKubeconfig('system:kube-scheduler');
    const kwokKubeconfig = componentKubeconfig('system:kwok');
    const { ApiextensionsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, loadAllYaml } = await k8s;
    const kc = new KubeConfig();
    kc.loadFromFile(adminKubeconfig);

    start('kube-controller-manager', bin.controllerManager, [
      '--kubeconfig',
      cmKubeconfig,
      '--authentication-kubeconfig',
      cmKubeconfig,
      '--authorization-kubeconfig',
      cmKubeconfig,
      '--leader-elect=false',
      '--secure-port',
      '0',
      // nodeipam wants a cluster CIDR to hand out; kwok assigns pod IPs itself. nodelifecycle stays:
      // it lifts the not-ready taint once kwok reports a node Ready.
      '--controllers',
      '*,-nodeipam',
    ]);
    start('kube-scheduler', bin.scheduler, [
      '--kubeconfig',
      schedulerKubeconfig,
      '--authentication-kubeconfig',
      schedulerKubeconfig,
      '--authorization-kubeconfig',
      schedulerKubeconfig,
      '--leader-elect=false',
      '--secure-port',
      '0',
    ]);

    const objects = KubernetesObjectApi.makeApiClient(kc);
    const core = kc.makeApiClient(CoreV1Api);
    // The worker's identity: deploy/rbac.yaml as it is, its ServiceAccount, and a token for it; made
    // beside the nodes (the apiserver alone serves all three).
    const workerIdentity = (async () => {
      await applyObjects(objects, [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: WORKER_SERVICE_ACCOUNT.namespace } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...WORKER_SERVICE_ACCOUNT } },
        ...(loadAllYaml(readFileSync(RBAC_FILE, 'utf8')) as KubernetesObject[]).filter(Boolean),
      ]);
      const token = await core.createNamespacedServiceAccountToken({
        ...WORKER_SERVICE_ACCOUNT,
        body: { spec: { audiences: [], expirationSeconds: options.workerTokenSeconds ?? 7 * 86_400 } },
      });
      // Renamed into place: a client never reads half a token.
      writeFileSync(`${workerTokenFile}.tmp`, token.status!.token, { mode: 0o600 });
      renameSync(`${workerTokenFile}.tmp`, workerTokenFile);
    })();
    // Awaited below; a failure before then is reported there, not as an unhandled rejection.
    workerIdentity.catch(() => undefined);

    // kwok serves pod logs (as a kubelet would) from ClusterLogs objects: the CRD must exist first.
    await applyObjects(
      objects,
      loadAllYaml(readFileSync(join(KWOK_FILES, 'kwok-clusterlogs-crd.yaml'), 'utf8')) as KubernetesObject[],
    );
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await waitFor(apiserver, 'the ClusterLogs CRD established', async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: 'clusterlogs.kwok.x-k8s.io' });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    });
    options.onApiReady?.(adminKubeconfig);
    const kwok = start('kwok', bin.kwok, [
      '--kubeconfig',
      kwokKubeconfig,
      '--config',
      join(KWOK_FILES, 'kwok-stages.yaml'),
      // Each node's kubelet /metrics/resource, pod usage from annotations: what Prometheus scrapes.
      '--config',
      join(KWOK_FILES, 'kwok-metrics.yaml'),
      '--manage-nodes-with-annotation-selector',
      'kwok.x-k8s.io/node=fake',
      // Node Leases renewed every 10 s, as kubelets (and kwokctl's clusters) do. Without them the node
      // status heartbeat is the only one, and kwok postpones it by 20-25 s on every change to the node:
      // a cordon and an uncordon 20 s apart left a node 55 s without one, the node lifecycle controller
      // (50 s grace) made it Unknown and its pods NotReady, and kwok never made them Ready again.
      '--node-lease-duration-seconds',
      '40',
      '--enable-crds',
      'ClusterLogs',
      // The apiserver reaches "kubelets" at the node's InternalIP and port: all of them are kwok here.
      '--server-address',
      `127.0.0.1:${kwokPort}`,
      '--node-ip',
      '127.0.0.1',
      '--node-port',
      String(kwokPort),
      '--cidr',
      '10.128.0.0/12',
    ]);

    const addNodes = async (names: string[], nodeOptions: NodeOptions = {}) => {
      const ready = addKwokNodes(kc, names, nodeOptions);
      await Promise.race([
        ready,
        kwok.exited.then((code) => {
          throw new Error(`kwok exited with code ${code}:\n${tail(join(logs, 'kwok.log'))}`);
        }),
      ]);
    };
    const prefix = options.nodePrefix ?? 'kwok-node';
    const names = Array.from({ length: options.nodes ?? 3 }, (_, i) => `${prefix}-${i + 1}`);
    // One node first: kwok v0.8.0 builds its CEL type registry on the first node it sees, and
    // several arriving together can crash it ("concurrent map writes"); once built, it is safe.
    await addNodes(names.slice(0, 1));
    await addNodes(names.slice(1));
    const nodesReadyMs = Date.now() - started;

    await workerIdentity;

    return {
      server,
      adminKubeconfig,
      workerKubeconfig,
      auditLog,
      dir,
      kubeletMetricsDiscovery: `http://127.0.0.1:${kwokPort}/discovery/prometheus`,
      kubectl: bin.kubectl,
      timings: { apiserverReadyMs, nodesReadyMs },
      addNodes,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates nodes kwok will manage and waits until they are Ready and untainted by the node controller. */
export async function addKwokNodes(
  kc: KubeConfig,
  names: string[],
  options: NodeOptions = {},
  timeoutMs = 120_000,
): Promise<void> {
  const { CoreV1Api } = await kubernetesClient();
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(names.map((name) => core.createNode({ body: nodeObject(name, options) })));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await core.listNode()).items.filter((n) => names.includes(n.metadata!.name!));
    if (nodes.length === names.length && nodes.every(schedulable)) return;
    if (Date.now() > deadline) throw new Error(`nodes ${names.join(', ')} not Ready within ${timeoutMs / 1000} s`);
    await pause(100);
  }
}

const schedulable = (n: V1Node) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
  !(n.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));

/** A node kwok will manage, looking like a real worker node of the version we run. */
function nodeObject(name: string, o: NodeOptions): V1Node {
  const resources = { cpu: o.cpu ?? '4', memory: o.memory ?? '16Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { ...KWOK_NODE_ANNOTATION },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...o.labels,
      },
    },
    spec: o.taints ? { taints: o.taints } : {},
    status: {
      capacity: resources,
      allocatable: resources,
      nodeInfo: {
        kubeletVersion: KUBERNETES_VERSION,
        kubeProxyVersion: KUBERNETES_VERSION,
        bootID: randomUUID(),
        machineID: randomUUID(),
        systemUUID: randomUUID(),
        osImage: 'Ubuntu 24.04.1 LTS',
        kernelVersion: '6.8.0-49-generic',
        containerRuntimeVersion: 'containerd://1.7.22',
        architecture: 'amd64',
        operatingSystem: 'linux',
      },
    },
  };
}

/** Server-side apply of each object, in order: run again, it changes nothing. */
export async function applyObjects(client: KubernetesObjectApi, objects: KubernetesObject[]): Promise<void> {
  const { PatchStrategy } = await kubernetesClient();
  for (const o of objects) {
    await client.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }
}
