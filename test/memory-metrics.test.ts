// Memory per deployment measured for real: kwok emulates each node's kubelet resource metrics
// endpoint (scripts/kubernetes/kwok-metrics.yaml; a pod uses what its kwok.x-k8s.io/usage-memory
// annotation says), a real Prometheus scrapes it as kube-prometheus-stack scrapes kubelets, and the
// worker reads the working set there (config targets.prometheus).
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createKubernetesActivities } from '../activities/kubernetes/index.js';
import type { CheckResult } from '../domain/checks.js';
import type { MemoryByDeployment } from '../domain/memory.js';
import { weeklySystemReview } from '../workflows/weekly-system-review.js';
import { expectRbacExact, PART_OF, QUICK_PODS, waitForDeployment, waitUntil } from './helpers/cluster.js';
import { freePort } from './helpers/net.js';
import { startPrometheus, type TestPrometheus } from './helpers/prometheus.js';
import { startStack, uniqueId, type Stack } from './helpers/stack.js';

const USAGE = 'kwok.x-k8s.io/usage-memory';
const BACKEND = 'trixtech-backend';

describe('memory per deployment from the kubelets through Prometheus', () => {
  let stack: Stack;
  let prometheus: TestPrometheus;
  let prometheusUrl: string;

  beforeAll(async () => {
    // Prometheus keeps only this file's nodes, known once the stack has made them; the stack's
    // config names it before, on a port picked now.
    prometheusUrl = `http://127.0.0.1:${await freePort()}`;
    stack = await startStack(
      {},
      { name: 'memory-metrics', targets: { prometheus: { name: 'prometheus', url: prometheusUrl } } },
    );
    const nodes = await stack.kube.addNodes(1);
    prometheus = await startPrometheus({
      port: Number(new URL(prometheusUrl).port),
      kubelets: { discoveryUrl: inject('kubeletMetricsDiscovery'), nodes },
    });
    await stack.kube.deploy(BACKEND, { replicas: 2, podAnnotations: { ...QUICK_PODS, [USAGE]: '100Mi' } });
    await waitForDeployment(stack.kube, BACKEND);
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    prometheus?.stop();
    await stack?.stop();
  });

  /** Each backend pod now uses `usage`, as its kubelet would report it. */
  async function setUsage(usage: string): Promise<void> {
    for (const pod of await stack.kube.pods(`app=${BACKEND}`))
      await stack.kube.core.patchNamespacedPod(
        {
          name: pod.metadata!.name!,
          namespace: stack.kube.namespace,
          body: { metadata: { annotations: { [USAGE]: usage } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
  }

  /** What the worker's activity measures, once Prometheus has scraped `expected` MiB for the backend. */
  async function measured(expected: number): Promise<MemoryByDeployment> {
    const activities = createKubernetesActivities({
      kube: stack.kube.worker,
      namespace: stack.kube.namespace,
      appLabelSelector: PART_OF,
      prometheus: { name: 'prometheus', url: prometheusUrl },
    });
    let last: Awaited<ReturnType<typeof activities.measureDeploymentMemory>> | undefined;
    return waitUntil(`${expected} MiB measured for ${BACKEND}`, async () => {
      const result = (last = await activities.measureDeploymentMemory());
      return 'memory' in result && result.memory[BACKEND] === expected ? result.memory : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last measured: ${JSON.stringify(last)}`);
    });
  }

  it('reads each pod working set from Prometheus; without a figure there it falls back to the metrics API and says why neither answered', async () => {
    // Two pods of 100 MiB.
    expect(await measured(200)).toEqual({ [BACKEND]: 200 });
    // A Prometheus that scrapes no kubelet, then none at all: the metrics API is asked, and is not installed here.
    const empty = await startPrometheus();
    try {
      for (const [url, why] of [
        [empty.url, /Prometheus empty holds no container_memory_working_set_bytes for the pods matching/],
        [`http://127.0.0.1:${await freePort()}`, /Prometheus empty unreachable: ECONNREFUSED/],
      ] as const) {
        const result = await createKubernetesActivities({
          kube: stack.kube.worker,
          namespace: stack.kube.namespace,
          appLabelSelector: PART_OF,
          prometheus: { name: 'empty', url },
        }).measureDeploymentMemory();
        expect(result).toEqual({ skipped: expect.stringMatching(why) });
        expect(result).toEqual({ skipped: expect.stringContaining('metrics.k8s.io') });
      }
    } finally {
      empty.stop();
    }
  });

  it('weeklySystemReview stores the measured figures and reports growth beyond the tolerance across two runs as a leak', async () => {
    const review = (input: Parameters<typeof weeklySystemReview>[0]) =>
      stack.withBridge(({ client, taskQueue }) =>
        client.workflow.execute(weeklySystemReview, {
          taskQueue,
          workflowId: uniqueId('memory-review'),
          args: [input],
        }),
      );
    const input = { memoryTrendRuns: 2, memoryGrowthPercent: 20 };
    /** Each pod at `usage`, the deployment measured at `mib`, then a review: its stored figure and its trend finding. */
    const reviewAt = async (usage: string, mib: number) => {
      await setUsage(usage);
      await measured(mib);
      const report = await review(input);
      expect(report.details?.memory).toEqual({ [BACKEND]: mib });
      return report.checks.filter((c: CheckResult) => c.check === 'k8s.memory-trend');
    };

    expect(await reviewAt('100Mi', 200)).toEqual([
      expect.objectContaining({
        target: BACKEND,
        status: 'skipped',
        value: 200,
        detail: expect.stringContaining('1 of 2 runs'),
      }),
    ]);
    // A week later each pod uses 150 MiB: +50 %, beyond the 20 % tolerance.
    expect(await reviewAt('150Mi', 300)).toEqual([
      expect.objectContaining({
        target: BACKEND,
        status: 'warn',
        value: 300,
        detail: 'memory creeping: 200, 300 MiB (+50% over 2 runs)',
      }),
    ]);
    // Growth within the tolerance is no leak: 300 -> 330 MiB is +10 %.
    expect(await reviewAt('165Mi', 330)).toEqual([
      expect.objectContaining({
        target: BACKEND,
        status: 'ok',
        detail: 'no steady growth: 300, 330 MiB (+10% over 2 runs)',
      }),
    ]);
  });
});
