// The Kubernetes activities, registered at start but loaded by the first one called: their modules
// import @kubernetes/client-node, about a second and 50 MB that a worker start need not wait for.
import { loadOnce, type KubeConfigSource } from '../../src/clients.js';
import type { NodeJobDeps } from './node-jobs.js';
import type { createKubernetesActivities } from './index.js';

type KubernetesActivities = ReturnType<typeof createKubernetesActivities>;

/** The worker registers activities by name before any is loaded; the type makes this list whole. */
const NAMES: Record<keyof KubernetesActivities, true> = {
  scanApplicationErrorLogs: true,
  checkPodResourceUsage: true,
  checkContainerRestarts: true,
  measureDeploymentMemory: true,
  selectNodes: true,
  checkNodeHealth: true,
  collectClusterInventory: true,
  cordonNode: true,
  uncordonNode: true,
  drainNode: true,
  requestNodeUpdate: true,
  waitForNodeReady: true,
  startNodeJob: true,
  waitForNodeJob: true,
  deleteNodeJob: true,
  surveyNodeDisks: true,
  readDeploymentRevision: true,
  setDeploymentImage: true,
  waitForRollout: true,
  rollbackDeployment: true,
  restartDeployment: true,
  scaleDeployment: true,
  cleanupClusterResources: true,
  reviewClusterAdminBindings: true,
};

/** Their modules, Kubernetes client included, imported ahead of the first call (the kubeconfig is still read by it). */
export const preloadKubernetesActivities = () => import('./index.js');

export function kubernetesActivitiesOnDemand(
  deps: Omit<NodeJobDeps, 'kube'> & { kube: KubeConfigSource | null },
): KubernetesActivities {
  const load = loadOnce(async () => {
    const [{ createKubernetesActivities }, kube] = await Promise.all([preloadKubernetesActivities(), deps.kube?.()]);
    return createKubernetesActivities({ ...deps, kube: kube ?? null });
  });
  return Object.fromEntries(
    (Object.keys(NAMES) as (keyof KubernetesActivities)[]).map((name) => [
      name,
      async (...args: unknown[]) => ((await load())[name] as (...a: unknown[]) => Promise<unknown>)(...args),
    ]),
  ) as unknown as KubernetesActivities;
}
