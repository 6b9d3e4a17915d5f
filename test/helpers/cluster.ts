// Tests against the suite's real control plane (test/global-setup.ts): each test file works in a
// namespace of its own, as a ServiceAccount of its own bound to the roles of deploy/rbac.yaml
// (applied as they are), so the real authorizer enforces them and the audit log tells which
// requests were this file's.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { expect, inject } from 'vitest';
import { createKubernetesActivities } from '../../activities/kubernetes/index.js';
import { isRolledOut } from '../../activities/kubernetes/deployments.js';
import { addKwokNodes, applyObjects, QUICK_PODS, RBAC_FILE, type NodeOptions } from '../../dev/kube-local/cluster.js';

export { QUICK_PODS };

export const PART_OF = 'app.kubernetes.io/part-of=trixtech';

interface RbacDoc extends KubernetesObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

const shipped = () => (loadAllYaml(readFileSync(RBAC_FILE, 'utf8')) as RbacDoc[]).filter(Boolean);

/** One audit event of the apiserver (metadata level). */
export interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; apiGroup?: string; name?: string };
  responseStatus?: { code?: number; message?: string };
  requestReceivedTimestamp: string;
}

export interface TestCluster {
  namespace: string;
  /** What this file's requests appear as in the audit log. */
  username: string;
  admin: KubeConfig;
  worker: KubeConfig;
  workerKubeconfig: string;
  /** A directory of this file's own that the cluster's processes (kwok) can read too. */
  workDir: string;
  activities: ReturnType<typeof createKubernetesActivities>;
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
  /** Nodes only this file's workloads go to (label and taint `trixtech.test/pool=<namespace>`). */
  addNodes(count: number, options?: NodeOptions): Promise<string[]>;
  deploy(name: string, spec?: DeploymentSpec): Promise<V1Deployment>;
  pdb(name: string, app: string, budget: { minAvailable?: number; maxUnavailable?: number }): Promise<void>;
  /** Pods of the namespace still alive (not terminating). */
  pods(selector?: string): Promise<V1Pod[]>;
  /** This file's audit events so far. */
  audit(): AuditEvent[];
  cleanup(): Promise<void>;
}

export interface DeploymentSpec {
  replicas?: number;
  image?: string;
  labels?: Record<string, string>;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumes?: { name: string; emptyDir: Record<string, never> }[];
  /** Nodes to run on (by name); default any of this file's nodes. */
  nodes?: string[];
  /** Pod template annotations, e.g. QUICK_PODS or kwok stage delays. */
  podAnnotations?: Record<string, string>;
}

/** Polls `check` until it returns a value (not undefined), or fails with what `describe` says. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const kubeconfigFrom = (file: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
};

export const isReady = (p: V1Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** A namespace, ServiceAccount, bindings and kubeconfig of this test file's own. */
export async function clusterForFile(name: string): Promise<TestCluster> {
  const admin = kubeconfigFrom(inject('kubeAdminKubeconfig'));
  const namespace = `${name}-${randomBytes(3).toString('hex')}`;
  const serviceAccount = 'trixtech-maintenance';
  const username = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  const docs = shipped();
  const role = docs.find((d) => d.kind === 'Role')!;
  const clusterRole = docs.find((d) => d.kind === 'ClusterRole')!;
  const objects = KubernetesObjectApi.makeApiClient(admin);
  await applyObjects(objects, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace } },
    // The shipped Role's rules in this namespace (what an operator does for targets.kubernetes.namespace).
    { ...role, metadata: { name: role.metadata.name, namespace } } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: role.metadata.name, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
      subjects,
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${clusterRole.metadata.name}-${namespace}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata.name },
      subjects,
    } as KubernetesObject,
  ]);
  const core = admin.makeApiClient(CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const workDir = join(inject('kubeDir'), namespace);
  mkdirSync(workDir);
  const workerKubeconfig = join(workDir, 'worker.kubeconfig');
  const cluster = admin.getCurrentCluster()!;
  writeFileSync(
    workerKubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'worker',
      clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: 'worker', user: { token: token.status!.token } }],
      contexts: [{ name: 'worker', context: { cluster: 'local', user: 'worker', namespace } }],
    }),
    { mode: 0o600 },
  );
  const worker = kubeconfigFrom(workerKubeconfig);
  const activities = createKubernetesActivities({ kube: worker, namespace, appLabelSelector: PART_OF });
  const apps = admin.makeApiClient(AppsV1Api);
  const nodes: string[] = [];
  const pool = { key: 'trixtech.test/pool', value: namespace };

  return {
    namespace,
    username,
    admin,
    worker,
    workerKubeconfig,
    workDir,
    activities,
    core,
    apps,
    policy: admin.makeApiClient(PolicyV1Api),
    async addNodes(count, options = {}) {
      const names = Array.from({ length: count }, () => `${namespace}-${randomBytes(2).toString('hex')}`);
      nodes.push(...names);
      await addKwokNodes(admin, names, {
        ...options,
        labels: { [pool.key]: pool.value, ...options.labels },
        taints: [{ ...pool, effect: 'NoSchedule' }, ...(options.taints ?? [])],
      });
      return names;
    },
    async deploy(app, spec = {}) {
      const labels = { app, 'app.kubernetes.io/part-of': 'trixtech', ...spec.labels };
      const body: V1Deployment = {
        metadata: { name: app, namespace, labels },
        spec: {
          replicas: spec.replicas ?? 2,
          revisionHistoryLimit: spec.revisionHistoryLimit ?? 10,
          progressDeadlineSeconds: spec.progressDeadlineSeconds ?? 600,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels, ...(spec.podAnnotations ? { annotations: spec.podAnnotations } : {}) },
            spec: {
              containers: [
                {
                  name: 'app',
                  image: spec.image ?? `ghcr.io/trixtech/${app}:1.0.0`,
                  ...(spec.resources ? { resources: spec.resources } : {}),
                },
              ],
              // kwok removes an evicted pod at a random moment within its grace period: these apps stop within 1 s.
              terminationGracePeriodSeconds: 1,
              tolerations: [{ ...pool, operator: 'Equal', effect: 'NoSchedule' }],
              affinity: {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      {
                        matchExpressions: spec.nodes
                          ? [{ key: 'kubernetes.io/hostname', operator: 'In', values: spec.nodes }]
                          : [{ key: pool.key, operator: 'In', values: [pool.value] }],
                      },
                    ],
                  },
                },
              },
              ...(spec.volumes ? { volumes: spec.volumes } : {}),
            },
          },
        },
      };
      return apps.createNamespacedDeployment({ namespace, body });
    },
    async pdb(pdbName, app, budget) {
      await admin.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
        namespace,
        body: { metadata: { name: pdbName, namespace }, spec: { ...budget, selector: { matchLabels: { app } } } },
      });
    },
    async pods(selector) {
      return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
    },
    audit() {
      return readFileSync(inject('kubeAuditLog'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as AuditEvent)
        .filter((e) => e.user.username === username);
    },
    async cleanup() {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      await Promise.all(nodes.map((n) => core.deleteNode({ name: n }).catch(() => undefined)));
      await admin
        .makeApiClient(CustomObjectsApi)
        .deleteClusterCustomObject({
          group: 'kwok.x-k8s.io',
          version: 'v1alpha1',
          plural: 'clusterlogs',
          name: namespace,
        })
        .catch(() => undefined);
      await admin
        .makeApiClient(RbacAuthorizationV1Api)
        .deleteClusterRoleBinding({ name: `${clusterRole.metadata.name}-${namespace}` })
        .catch(() => undefined);
    },
  };
}

/** Until the deployment has observed its spec and every replica is updated and available. */
export async function waitForDeployment(t: TestCluster, name: string, timeoutMs = 60_000): Promise<V1Deployment> {
  return waitUntil(
    `deployment ${name} available`,
    async () => {
      const d = await t.apps.readNamespacedDeployment({ name, namespace: t.namespace });
      return isRolledOut(d) ? d : undefined;
    },
    timeoutMs,
  );
}

const grantKey = (verb: string, group: string, resource: string) => `${verb} ${group || 'core'}/${resource}`;

/**
 * From the audit log: no request of this file was refused by RBAC, and, when the file exercises
 * every activity, every grant of deploy/rbac.yaml was used (least privilege both ways).
 */
export function expectRbacExact(t: TestCluster, { everyGrantUsed }: { everyGrantUsed: boolean }): void {
  const events = t.audit().filter((e) => e.objectRef?.resource);
  const denied = events
    .filter((e) => e.responseStatus?.code === 403)
    .map(
      (e) => `${grantKey(e.verb, e.objectRef!.apiGroup ?? '', e.objectRef!.resource!)}: ${e.responseStatus?.message}`,
    );
  expect([...new Set(denied)], 'requests the real authorizer refused under deploy/rbac.yaml').toEqual([]);
  if (!everyGrantUsed) return;
  const used = new Set(
    events.map((e) => {
      const resource = e.objectRef!.subresource
        ? `${e.objectRef!.resource}/${e.objectRef!.subresource}`
        : e.objectRef!.resource!;
      const scope = e.objectRef!.namespace ? 'ns' : 'cluster';
      return `${scope} ${grantKey(e.verb, e.objectRef!.apiGroup ?? '', resource)}`;
    }),
  );
  const unused: string[] = [];
  for (const doc of shipped().filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
    for (const rule of doc.rules ?? []) {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs ?? []) {
            const key = grantKey(verb, group, resource);
            // A ClusterRole grant counts when used at any scope; a Role's only in the namespace.
            const hit =
              doc.kind === 'Role' ? used.has(`ns ${key}`) : used.has(`ns ${key}`) || used.has(`cluster ${key}`);
            if (!hit) unused.push(`${doc.kind} ${doc.metadata.name}: ${key}`);
          }
        }
      }
    }
  }
  expect(unused, 'grants in deploy/rbac.yaml no request in the audit log used').toEqual([]);
}

/** Has kwok serve the pods of the file's namespace (or those named) their log from files it reads at each request. */
export async function serveLogFiles(
  t: TestCluster,
  logs: { containers?: string[]; logsFile: string }[],
  pods?: string[],
): Promise<void> {
  await t.admin.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: 'kwok.x-k8s.io',
    version: 'v1alpha1',
    plural: 'clusterlogs',
    body: {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterLogs',
      metadata: { name: t.namespace },
      spec: { selector: { matchNamespaces: [t.namespace], ...(pods ? { matchNames: pods } : {}) }, logs },
    },
  });
}

/**
 * Has kwok serve `lines` (CRI format) as the log of every pod in the file's namespace (or of the
 * pods named), as a kubelet would, and waits until such a pod's log reads back. Without it the
 * error-log scan finds the logs unreadable, which it reports as a warning.
 */
export async function serveLogs(t: TestCluster, lines: string[], pods?: string[]): Promise<void> {
  const logFile = join(t.workDir, `pods-${Date.now()}.log`);
  const now = Date.now();
  writeFileSync(
    logFile,
    lines.map((l, i) => `${new Date(now - 60_000 + i * 1000).toISOString()} stdout F ${l}\n`).join(''),
  );
  await serveLogFiles(t, [{ logsFile: logFile }], pods);
  await waitUntil('kwok to serve the pods their log', async () => {
    const pod = (await t.pods()).find((p) => !pods || pods.includes(p.metadata!.name!));
    if (!pod) return undefined;
    const log = await t.core
      .readNamespacedPodLog({
        name: pod.metadata!.name!,
        namespace: t.namespace,
        container: pod.spec!.containers[0]!.name,
      })
      .catch(() => '');
    return log.includes(lines[0]!) ? true : undefined;
  });
}
