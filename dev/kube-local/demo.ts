// The TRIXTECH workloads of the local demo cluster: backend and frontend Deployments behind
// PodDisruptionBudgets, with logs kwok serves as their kubelet would.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { AppsV1Api, KubernetesObjectApi, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { isRolledOut } from '../../activities/kubernetes/deployments.js';
import { applyObjects, QUICK_PODS } from './cluster.js';

export const DEMO_NAMESPACE = 'default';
const PART_OF = 'trixtech';

interface App {
  name: string;
  component: string;
  image: string;
  replicas: number;
  port: number;
  pdb: { minAvailable?: number; maxUnavailable?: number };
  cpu: string;
  memory: string;
}

export const DEMO_APPS: App[] = [
  {
    name: 'trixtech-backend',
    component: 'api',
    image: 'ghcr.io/trixtech/booking-backend',
    replicas: 3,
    port: 3000,
    pdb: { minAvailable: 2 },
    cpu: '500m',
    memory: '512Mi',
  },
  {
    name: 'trixtech-frontend',
    component: 'web',
    image: 'ghcr.io/trixtech/booking-frontend',
    replicas: 2,
    port: 8080,
    pdb: { maxUnavailable: 1 },
    cpu: '200m',
    memory: '256Mi',
  },
];
/** Released versions, oldest first: the demo rolls through them so a rollback has a revision to go to. */
const RELEASES: Record<string, string[]> = { 'trixtech-backend': ['2.14.2', '2.14.3'], 'trixtech-frontend': ['1.9.0'] };

function deployment(app: App, version: string, namespace: string): V1Deployment {
  const selector = { 'app.kubernetes.io/name': app.name, 'app.kubernetes.io/instance': app.name };
  const labels = { ...selector, 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/component': app.component };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app.name, namespace, labels },
    spec: {
      replicas: app.replicas,
      revisionHistoryLimit: 10,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '100%', maxUnavailable: 0 } },
      template: {
        // Started and Ready at once: `npm run up` waits for both releases before its first health check.
        metadata: { labels: { ...labels, 'app.kubernetes.io/version': version }, annotations: QUICK_PODS },
        spec: {
          containers: [
            {
              name: app.component,
              image: `${app.image}:${version}`,
              ports: [{ name: 'http', containerPort: app.port }],
              resources: {
                requests: { cpu: app.cpu, memory: app.memory },
                limits: { cpu: app.cpu, memory: app.memory },
              },
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
            },
          ],
        },
      },
    },
  };
}

/** Log lines in the CRI format kubelets keep, timestamped just now so a 24 h scan reads them. */
function criLog(lines: string[]): string {
  const now = Date.now();
  return lines
    .map((line, i) => `${new Date(now - (lines.length - i) * 60_000).toISOString()} stdout F ${line}\n`)
    .join('');
}

const DEMO_LOGS: Record<string, string[]> = {
  api: [
    'info: booking-backend 2.14.3 listening on :3000',
    'info: connected to postgresql trixtech (pool 10)',
    'info: GET /api/bookings?from=2026-11-24 200 18ms',
    'info: POST /api/bookings 201 42ms',
    'warn: slow query bookings_by_day 812ms',
    'info: GET /healthz 200 1ms',
  ],
  web: [
    'nginx: start worker processes',
    '10.128.0.7 - - "GET / HTTP/1.1" 200 5120',
    '10.128.0.9 - - "GET /static/app.js HTTP/1.1" 200 88211',
  ],
};

/**
 * Deploys the demo applications and waits until every replica is available. Each release is
 * applied once the deployment controller has made the previous one a revision (its ReplicaSet),
 * so the backend has revision history (a rollback target) like a live one; the rollouts then
 * complete together, as soon as there are nodes to run the pods.
 */
export async function deployDemoWorkloads(kc: KubeConfig, logDir: string, namespace = DEMO_NAMESPACE): Promise<void> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  mkdirSync(logDir, { recursive: true });
  for (const [container, lines] of Object.entries(DEMO_LOGS))
    writeFileSync(join(logDir, `${container}.log`), criLog(lines));
  const clusterLogs: KubernetesObject & { spec: unknown } = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterLogs',
    metadata: { name: `trixtech-demo-${namespace}` },
    spec: {
      selector: { matchNamespaces: [namespace] },
      logs: Object.keys(DEMO_LOGS).map((c) => ({ containers: [c], logsFile: join(logDir, `${c}.log`) })),
    },
  };
  await applyObjects(objects, [clusterLogs]);
  await applyObjects(
    objects,
    DEMO_APPS.map((app) => ({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: app.name, namespace, labels: { 'app.kubernetes.io/part-of': PART_OF } },
      spec: { ...app.pdb, selector: { matchLabels: { 'app.kubernetes.io/name': app.name } } },
    })),
  );
  const apps = kc.makeApiClient(AppsV1Api);
  const releases = Math.max(...Object.values(RELEASES).map((r) => r.length));
  for (let i = 0; i < releases; i++) {
    const batch = DEMO_APPS.filter((app) => RELEASES[app.name]![i]);
    await applyObjects(
      objects,
      batch.map((app) => deployment(app, RELEASES[app.name]![i]!, namespace)),
    );
    await waitForDeployments(
      apps,
      namespace,
      batch.map((a) => a.name),
      'observed by the deployment controller',
      (d) => (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1),
    );
  }
  await waitForAvailable(
    apps,
    namespace,
    DEMO_APPS.map((a) => a.name),
  );
}

/** Until each deployment has observed its spec and every replica is updated and available. */
export function waitForAvailable(apps: AppsV1Api, namespace: string, names: string[], timeoutMs = 120_000) {
  return waitForDeployments(apps, namespace, names, 'available', isRolledOut, timeoutMs);
}

async function waitForDeployments(
  apps: AppsV1Api,
  namespace: string,
  names: string[],
  what: string,
  done: (d: V1Deployment) => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending: string[] = [];
    for (const name of names) {
      const d = await apps.readNamespacedDeployment({ name, namespace });
      if (!done(d)) pending.push(`${name} (${d.status?.availableReplicas ?? 0}/${d.spec?.replicas ?? 1} available)`);
    }
    if (pending.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`deployments not ${what} within ${timeoutMs / 1000} s: ${pending.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
