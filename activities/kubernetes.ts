import { CoreV1Api, Metrics, type KubeConfig } from '@kubernetes/client-node';
import { skipped, type CheckResult } from '../src/domain/checks.js';

export interface KubernetesDeps {
  kube: KubeConfig | null;
  namespace: string;
  appLabelSelector: string;
}

const NO_CLUSTER = 'no cluster configured';
const ERROR_LINE = /\b(error|fatal|panic)\b/i;

export function createKubernetesActivities({ kube, namespace, appLabelSelector }: KubernetesDeps) {
  return {
    /** Seed: `kubectl logs --since=24h deployment/trixtech-backend | grep -i error`, for every application pod. */
    async scanApplicationErrorLogs(sinceSeconds = 86_400): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.error-logs', namespace, NO_CLUSTER)];
      const core = kube.makeApiClient(CoreV1Api);
      const pods = await core.listNamespacedPod({ namespace, labelSelector: appLabelSelector });
      if (pods.items.length === 0) return [skipped('k8s.error-logs', namespace, `no pods match ${appLabelSelector}`)];
      let errorLines = 0;
      const worst: string[] = [];
      for (const pod of pods.items) {
        const name = pod.metadata?.name ?? '?';
        const log = await core.readNamespacedPodLog({ name, namespace, sinceSeconds, tailLines: 10_000 });
        const hits = String(log).split('\n').filter((line) => ERROR_LINE.test(line));
        errorLines += hits.length;
        if (hits.length > 0) worst.push(`${name}: ${hits.length}`);
      }
      return [{
        check: 'k8s.error-logs', target: namespace, value: errorLines, unit: 'lines', threshold: 'warn > 0 error lines in 24 h',
        status: errorLines > 0 ? 'warn' : 'ok',
        detail: errorLines > 0 ? `error lines in the last 24 h: ${worst.join(', ')}` : `no error lines in ${pods.items.length} pod(s)`,
      }];
    },

    /** Seed: `kubectl top pods`: usage against limits through the metrics API. */
    async checkPodResourceUsage(): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.pod-resources', namespace, NO_CLUSTER)];
      const metrics = new Metrics(kube);
      let podMetrics;
      try {
        podMetrics = await metrics.getPodMetrics(namespace);
      } catch (err) {
        return [skipped('k8s.pod-resources', namespace, `metrics API unavailable: ${(err as Error).message}`)];
      }
      const pods = podMetrics.items.map((p) => p.metadata.name);
      return [{
        check: 'k8s.pod-resources', target: namespace, value: pods.length, unit: 'pods', status: 'ok',
        detail: `metrics reported for ${pods.length} pod(s)`,
      }];
    },
  };
}
