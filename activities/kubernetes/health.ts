import {
  ApisApi,
  AppsV1Api,
  CoreV1Api,
  Metrics,
  PolicyV1Api,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { skipped, type CheckResult, type CheckStatus } from '../../domain/checks.js';
import { apiStatus, type KubernetesDeps } from './common.js';
import { DEFAULT_DISK_THRESHOLDS, rootFilesystemUse } from './node-jobs.js';
import { instantQuery, promString } from '../prometheus.js';
import type { HttpTarget } from '../../domain/http-target.js';
import { withoutUrls } from '../../domain/text.js';
import { NO_CLUSTER, type Skipped } from '../../domain/cluster.js';
import type { NodeRule } from '../../domain/annual-plan.js';
import { failure, FailureType } from '../../domain/failures.js';
import { restartFindings, type MemoryByDeployment } from '../../domain/memory.js';

const ERROR_LINE = /\b(error|fatal|panic)\b/i;
/** Usage against the container limit: the point where a pod is about to be throttled or OOM-killed. */
const USAGE_WARN_PERCENT = 80;
const USAGE_CRITICAL_PERCENT = 95;
const PRESSURE_CONDITIONS = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'NetworkUnavailable'];

const CPU_UNITS: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1 };
const MEMORY_UNITS: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  '': 1,
};

/** A Kubernetes quantity ("250m", "128974848", "512Mi") as a number of cores or bytes. */
export function parseQuantity(q: string, kind: 'cpu' | 'memory'): number {
  const m = q.match(/^([0-9.]+)([a-zA-Z]*)$/);
  const factor = m ? (kind === 'cpu' ? CPU_UNITS : MEMORY_UNITS)[m[2]!] : undefined;
  if (!m || factor === undefined) throw new Error(`cannot parse ${kind} quantity "${q}"`);
  return Number(m[1]) * factor;
}

export interface ClusterInventory {
  nodes: { name: string; kubeletVersion: string; ready: boolean; unschedulable: boolean }[];
  deployments: {
    namespace: string;
    name: string;
    images: string[];
    replicas: number;
    available: number;
    revision: string;
  }[];
  pdbs: {
    namespace: string;
    name: string;
    minAvailable?: string;
    maxUnavailable?: string;
    disruptionsAllowed: number;
    expectedPods: number;
  }[];
  findings: CheckResult[];
}

/** One finding per node: NotReady is critical; cordoned or under pressure is a warning. */
function nodeFindings(nodes: V1Node[]): CheckResult[] {
  if (nodes.length === 0) return [skipped('k8s.node', '-', 'the cluster lists no nodes')];
  return nodes.map((n): CheckResult => {
    const name = n.metadata!.name!;
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    const pressure = (n.status?.conditions ?? [])
      .filter((c) => PRESSURE_CONDITIONS.includes(c.type) && c.status === 'True')
      .map((c) => c.type);
    const base = {
      check: 'k8s.node',
      target: name,
      value: n.status?.nodeInfo?.kubeletVersion,
      threshold: 'Ready, schedulable, no pressure',
    };
    if (ready?.status !== 'True')
      return {
        ...base,
        status: 'critical',
        detail: `NotReady: ${ready?.reason ?? 'no Ready condition'}${ready?.message ? ` (${ready.message})` : ''}`,
      };
    if (pressure.length > 0) return { ...base, status: 'warn', detail: `under ${pressure.join(', ')}` };
    if (n.spec?.unschedulable) return { ...base, status: 'warn', detail: 'Ready but cordoned (unschedulable)' };
    return { ...base, status: 'ok', detail: 'Ready' };
  });
}

/** The deployment a pod belongs to: its ReplicaSet's name without the pod-template hash (the pod itself otherwise). */
function deploymentOf(pod: V1Pod): string {
  const replicaSet = pod.metadata?.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (replicaSet && hash && replicaSet.endsWith(`-${hash}`)) return replicaSet.slice(0, -hash.length - 1);
  return replicaSet ?? pod.metadata!.name!;
}

/**
 * Each pod's working set in bytes (its containers summed) from the kubelets' `container_memory_working_set_bytes`
 * in Prometheus: cAdvisor's (`/metrics/cadvisor`) or the resource endpoint's (`/metrics/resource`), as
 * kube-prometheus-stack scrapes them. Pod-level (`container=""`) and pause (`POD`) series are left out,
 * and a container scraped from both endpoints counts once.
 */
async function podWorkingSetFromPrometheus(prometheus: HttpTarget, namespace: string): Promise<Map<string, number>> {
  const query = `sum by (pod) (max by (pod, container) (container_memory_working_set_bytes{namespace=${promString(namespace)},container!="",container!="POD"}))`;
  const samples = await instantQuery(prometheus, query, 'the memory query');
  return new Map(samples.filter((s) => s.metric.pod).map((s) => [s.metric.pod!, s.value]));
}

/** Each pod's working set in bytes (its containers summed) from the metrics API (`kubectl top pods`). */
async function podWorkingSetFromMetricsApi(kube: KubeConfig, namespace: string): Promise<Map<string, number>> {
  const usage = await new Metrics(kube).getPodMetrics(namespace);
  return new Map(
    usage.items.map((m) => [
      m.metadata.name,
      m.containers.reduce((sum, c) => sum + parseQuantity(c.usage.memory, 'memory'), 0),
    ]),
  );
}

/** MiB per deployment, summed over those of `pods` with a figure; undefined when none has one. */
function memoryByDeployment(pods: V1Pod[], bytesByPod: Map<string, number>): MemoryByDeployment | undefined {
  const memory: MemoryByDeployment = {};
  for (const pod of pods) {
    const bytes = bytesByPod.get(pod.metadata!.name!);
    if (bytes === undefined) continue;
    const owner = deploymentOf(pod);
    memory[owner] = Math.round(((memory[owner] ?? 0) + bytes / 2 ** 20) * 10) / 10;
  }
  return Object.keys(memory).length > 0 ? memory : undefined;
}

/**
 * Why the metrics API could not be read. Without metrics.k8s.io (no metrics-server) the client
 * reports the apiserver's plain-text 404 as "HTTP 500 invalid json"; discovery tells the real reason.
 */
async function metricsUnavailable(kube: KubeConfig, err: unknown): Promise<string> {
  const groups = await kube
    .makeApiClient(ApisApi)
    .getAPIVersions()
    .then(
      (g) => g.groups.map((x) => x.name),
      () => undefined,
    );
  if (groups && !groups.includes('metrics.k8s.io'))
    return 'the metrics API (metrics.k8s.io) is not installed in this cluster: install metrics-server for pod usage';
  return `metrics API unavailable: ${apiStatus(err).message}`;
}

/**
 * Each node's root filesystem against the disk thresholds, from node-exporter through Prometheus
 * (the seed's "disk space utilization", on the nodes rather than the worker's own mounts).
 */
async function nodeDiskFindings(
  nodes: V1Node[],
  prometheus: HttpTarget,
  { warnPercent, criticalPercent }: { warnPercent: number; criticalPercent: number },
): Promise<CheckResult[]> {
  let used: Map<string, number>;
  try {
    used = await rootFilesystemUse(prometheus);
  } catch (err) {
    return [
      {
        check: 'node.disk',
        target: prometheus.name,
        status: 'warn',
        detail: `node disk figures unreadable: ${withoutUrls((err as Error).message)}`,
      },
    ];
  }
  const threshold = `warn > ${warnPercent}%, critical > ${criticalPercent}%`;
  return nodes.map((n): CheckResult => {
    const node = n.metadata!.name!;
    const percent = used.get(node);
    if (percent === undefined)
      return skipped('node.disk', node, `no node-exporter figure for ${node} in Prometheus ${prometheus.name}`);
    const status = percent > criticalPercent ? 'critical' : percent > warnPercent ? 'warn' : 'ok';
    return {
      check: 'node.disk',
      target: node,
      status,
      value: percent,
      unit: '%',
      threshold,
      detail: `/ ${percent}% used`,
    };
  });
}

export function createHealthActivities({
  kube,
  namespace,
  appLabelSelector,
  prometheus,
  diskThresholds = DEFAULT_DISK_THRESHOLDS,
}: KubernetesDeps) {
  return {
    /** Seed: `kubectl logs --since=24h deployment/trixtech-backend | grep -i error`, for every container of every application pod. */
    async scanApplicationErrorLogs(sinceSeconds = 86_400): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.error-logs', namespace, NO_CLUSTER)];
      const core = kube.makeApiClient(CoreV1Api);
      const pods = (await core.listNamespacedPod({ namespace, labelSelector: appLabelSelector })).items.filter(
        (p) => p.status?.phase === 'Running',
      );
      if (pods.length === 0) return [skipped('k8s.error-logs', namespace, `no running pods match ${appLabelSelector}`)];
      let errorLines = 0;
      const perPod: string[] = [];
      const unreadable: string[] = [];
      for (const pod of pods) {
        const name = pod.metadata!.name!;
        for (const container of pod.spec?.containers ?? []) {
          try {
            const log = await core.readNamespacedPodLog({
              name,
              namespace,
              container: container.name,
              sinceSeconds,
              tailLines: 10_000,
            });
            const hits = String(log)
              .split('\n')
              .filter((line) => ERROR_LINE.test(line)).length;
            errorLines += hits;
            if (hits > 0) perPod.push(`${name}/${container.name}: ${hits}`);
          } catch (err) {
            unreadable.push(`${name}/${container.name}: ${apiStatus(err).message}`);
          }
        }
      }
      const hours = Math.round(sinceSeconds / 360) / 10;
      const status: CheckStatus = errorLines > 0 || unreadable.length > 0 ? 'warn' : 'ok';
      const parts = [
        errorLines > 0
          ? `error lines in the last ${hours} h: ${perPod.join(', ')}`
          : `no error lines in ${pods.length} pod(s) over ${hours} h`,
        ...(unreadable.length > 0 ? [`logs unreadable: ${unreadable.join(', ')}`] : []),
      ];
      return [
        {
          check: 'k8s.error-logs',
          target: namespace,
          value: errorLines,
          unit: 'lines',
          threshold: 'warn > 0 error lines',
          status,
          detail: parts.join('; '),
        },
      ];
    },

    /** Seed: `kubectl top pods`: each application pod's usage against its containers' limits (metrics API). */
    async checkPodResourceUsage(): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.pod-resources', namespace, NO_CLUSTER)];
      let usage;
      try {
        usage = await new Metrics(kube).getPodMetrics(namespace);
      } catch (err) {
        return [skipped('k8s.pod-resources', namespace, await metricsUnavailable(kube, err))];
      }
      const pods = (
        await kube.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: appLabelSelector })
      ).items;
      const threshold = `of the container limit: warn > ${USAGE_WARN_PERCENT}%, critical > ${USAGE_CRITICAL_PERCENT}%`;
      const results = pods.flatMap((pod): CheckResult[] => {
        const name = pod.metadata!.name!;
        const measured = usage.items.find((m) => m.metadata.name === name);
        if (!measured) return [];
        let worst = { percent: 0, what: '' };
        const unlimited: string[] = [];
        for (const c of measured.containers) {
          const limits = pod.spec?.containers.find((s) => s.name === c.name)?.resources?.limits ?? {};
          for (const kind of ['cpu', 'memory'] as const) {
            if (!limits[kind]) {
              unlimited.push(`${c.name} ${kind}`);
              continue;
            }
            const percent =
              Math.round((parseQuantity(c.usage[kind], kind) / parseQuantity(limits[kind], kind)) * 1000) / 10;
            if (percent >= worst.percent)
              worst = { percent, what: `${c.name} ${kind} ${c.usage[kind]} of ${limits[kind]}` };
          }
        }
        const status: CheckStatus =
          worst.percent > USAGE_CRITICAL_PERCENT ? 'critical' : worst.percent > USAGE_WARN_PERCENT ? 'warn' : 'ok';
        const detail = [
          worst.what && `highest: ${worst.what} (${worst.percent}%)`,
          unlimited.length > 0 && `no limit: ${unlimited.join(', ')}`,
        ]
          .filter(Boolean)
          .join('; ');
        return [
          { check: 'k8s.pod-resources', target: name, value: worst.percent, unit: '%', threshold, status, detail },
        ];
      });
      return results.length > 0
        ? results
        : [skipped('k8s.pod-resources', namespace, `no metrics for pods matching ${appLabelSelector}`)];
    },

    /**
     * Seed "Check for memory leaks", from pod status: each application container's restart count
     * and last termination (OOMKilled is a leak reaching its limit). Needs no metrics API.
     */
    async checkContainerRestarts(maxRestarts: number): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.restarts', namespace, NO_CLUSTER)];
      const pods = (
        await kube.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: appLabelSelector })
      ).items;
      if (pods.length === 0) return [skipped('k8s.restarts', namespace, `no pods match ${appLabelSelector}`)];
      const containers = pods.flatMap((pod) =>
        (pod.status?.containerStatuses ?? []).map((c) => {
          const terminated = c.lastState?.terminated;
          return {
            pod: pod.metadata!.name!,
            container: c.name,
            restartCount: c.restartCount,
            ...(terminated
              ? {
                  lastTermination: {
                    ...(terminated.reason ? { reason: terminated.reason } : {}),
                    ...(terminated.finishedAt ? { finishedAt: new Date(terminated.finishedAt).toISOString() } : {}),
                  },
                }
              : {}),
          };
        }),
      );
      return restartFindings(containers, maxRestarts, namespace);
    },

    /**
     * Memory in use per deployment (MiB, summed over its application pods): the figure the weekly
     * review stores so the next runs can see it creep. From the kubelets' working set through
     * Prometheus when `targets.prometheus` is set (what kube-prometheus-stack clusters have), else,
     * or when Prometheus has no figure for these pods, from the metrics API (metrics-server).
     */
    async measureDeploymentMemory(): Promise<{ memory: MemoryByDeployment } | Skipped> {
      if (!kube) return { skipped: NO_CLUSTER };
      const pods = (
        await kube.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: appLabelSelector })
      ).items;
      if (pods.length === 0) return { skipped: `no pods match ${appLabelSelector}` };
      const unavailable: string[] = [];
      if (prometheus) {
        try {
          const memory = memoryByDeployment(pods, await podWorkingSetFromPrometheus(prometheus, namespace));
          if (memory) return { memory };
          unavailable.push(
            `Prometheus ${prometheus.name} holds no container_memory_working_set_bytes for the pods matching ${appLabelSelector} (are the kubelets scraped?)`,
          );
        } catch (err) {
          unavailable.push(withoutUrls((err as Error).message));
        }
      }
      try {
        const memory = memoryByDeployment(pods, await podWorkingSetFromMetricsApi(kube, namespace));
        if (memory) return { memory };
        unavailable.push(`no metrics for pods matching ${appLabelSelector}`);
      } catch (err) {
        unavailable.push(await metricsUnavailable(kube, err));
      }
      return { skipped: unavailable.join('; ') };
    },

    /**
     * The nodes a plan's rule selects now (the annual upgrade chooses them when its window opens):
     * every node, none, or those matching a label selector. A selector the API server refuses is bad input.
     */
    async selectNodes({ rule }: { rule: NodeRule }): Promise<{ nodes: string[] } | Skipped> {
      if (rule === 'none') return { nodes: [] };
      if (!kube) return { skipped: NO_CLUSTER };
      const labelSelector = rule === 'all' ? undefined : rule.selector;
      try {
        const { items } = await kube.makeApiClient(CoreV1Api).listNode(labelSelector ? { labelSelector } : {});
        return { nodes: items.map((n) => n.metadata!.name!).sort() };
      } catch (err) {
        const status = apiStatus(err);
        if (status.code === 400)
          throw failure(FailureType.InvalidInput, `node selector "${labelSelector}" refused: ${status.message}`);
        throw err;
      }
    },

    /**
     * Every node Ready, schedulable and free of pressure conditions; with Prometheus, each node's
     * root filesystem against the disk thresholds too (`node.disk`).
     */
    async checkNodeHealth(): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.node', '-', NO_CLUSTER)];
      const nodes = (await kube.makeApiClient(CoreV1Api).listNode()).items;
      return [
        ...nodeFindings(nodes),
        ...(prometheus && nodes.length > 0 ? await nodeDiskFindings(nodes, prometheus, diskThresholds) : []),
      ];
    },

    /** What runs where: nodes and kubelet versions, the application's deployments and images, and every PDB (a PDB allowing no disruption blocks every drain). */
    async collectClusterInventory(): Promise<ClusterInventory | Skipped> {
      if (!kube) return { skipped: NO_CLUSTER };
      const [nodes, deployments, pdbs] = await Promise.all([
        kube.makeApiClient(CoreV1Api).listNode(),
        kube.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace }),
        kube.makeApiClient(PolicyV1Api).listPodDisruptionBudgetForAllNamespaces(),
      ]);
      const inventory: ClusterInventory = {
        nodes: nodes.items.map((n) => ({
          name: n.metadata!.name!,
          kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '',
          unschedulable: Boolean(n.spec?.unschedulable),
          ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        })),
        deployments: deployments.items.map((d) => ({
          namespace,
          name: d.metadata!.name!,
          images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ''),
          replicas: d.spec?.replicas ?? 0,
          available: d.status?.availableReplicas ?? 0,
          revision: d.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? '',
        })),
        pdbs: pdbs.items.map((p) => ({
          namespace: p.metadata!.namespace!,
          name: p.metadata!.name!,
          ...(p.spec?.minAvailable !== undefined ? { minAvailable: String(p.spec.minAvailable) } : {}),
          ...(p.spec?.maxUnavailable !== undefined ? { maxUnavailable: String(p.spec.maxUnavailable) } : {}),
          disruptionsAllowed: p.status?.disruptionsAllowed ?? 0,
          expectedPods: p.status?.expectedPods ?? 0,
        })),
        findings: nodeFindings(nodes.items),
      };
      const versions = [...new Set(inventory.nodes.map((n) => n.kubeletVersion))];
      if (versions.length > 1) {
        inventory.findings.push({
          check: 'k8s.kubelet-versions',
          target: 'cluster',
          value: versions.length,
          status: 'warn',
          detail: `nodes run ${versions.sort().join(', ')}`,
        });
      }
      for (const p of inventory.pdbs.filter((b) => b.expectedPods > 0 && b.disruptionsAllowed === 0)) {
        inventory.findings.push({
          check: 'k8s.pdb',
          target: `${p.namespace}/${p.name}`,
          value: 0,
          status: 'warn',
          detail: `allows no disruption now (${p.expectedPods} pods expected): a drain of their nodes will wait`,
        });
      }
      return inventory;
    },
  };
}
