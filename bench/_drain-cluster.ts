// The drain bench's simulated cluster, run in its own process (forked by bench/drain.ts): like a
// real API server, its work (1000 pods, evictions, rescheduling) does not compete with the
// Temporal worker's event loop.
import { KubeDouble } from '../test/k8s-double/double.js';
import { addDeployment, addNode } from '../test/k8s-double/fixtures.js';
import { startUpdateHook } from '../test/k8s-double/update-hook.js';

export interface ClusterSpec {
  nodes: string[];
  /** Added after the pods are placed, so it holds none: the warm-up run updates it. */
  warmupNode: string;
  podsPerNode: number;
  evictionMs: number;
  rebootMs: number;
}
export interface ClusterReady {
  kubeconfig: string;
  hookUrl: string;
}
export interface ClusterStats {
  evictions: number;
  apiRequests: number;
}

const PODS_PER_DEPLOYMENT = 100;
const spec = await new Promise<ClusterSpec>((resolve) => process.once('message', resolve));
const k8s = await new KubeDouble({ podTerminationMs: spec.evictionMs, replacementDelayMs: 50, rolloutDelayMs: 0 }).start();
for (const name of spec.nodes) addNode(k8s, name);
// Created once every node exists, the scheduler spreads the pods evenly: podsPerNode on each.
const totalPods = spec.nodes.length * spec.podsPerNode;
for (let i = 0; i * PODS_PER_DEPLOYMENT < totalPods; i += 1) {
  addDeployment(k8s, `app-${i}`, { replicas: Math.min(PODS_PER_DEPLOYMENT, totalPods - i * PODS_PER_DEPLOYMENT) });
}
addNode(k8s, spec.warmupNode);
const hook = await startUpdateHook(k8s, spec.rebootMs);
process.send!({ kubeconfig: k8s.writeKubeconfig(), hookUrl: hook.url } satisfies ClusterReady);
process.once('message', async () => {
  const stats: ClusterStats = { evictions: k8s.served.filter((r) => r.subresource === 'eviction').length, apiRequests: k8s.served.length };
  await hook.close();
  await k8s.stop();
  process.send!(stats, () => process.exit(0));
});
