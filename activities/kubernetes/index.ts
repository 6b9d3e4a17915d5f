import { createCleanupActivities } from './cleanup.js';
import { createDeploymentActivities } from './deployments.js';
import { createHealthActivities } from './health.js';
import { createNodeJobActivities, type NodeJobDeps } from './node-jobs.js';
import { createNodeActivities } from './nodes.js';
import { createSecurityActivities } from './security.js';

export type { KubernetesDeps } from './common.js';

/** Every Kubernetes activity; each answers "skipped: no cluster configured" when `kube` is null. */
export function createKubernetesActivities(deps: NodeJobDeps) {
  return {
    ...createHealthActivities(deps),
    ...createNodeActivities(deps),
    ...createNodeJobActivities(deps),
    ...createDeploymentActivities(deps),
    ...createCleanupActivities(deps),
    ...createSecurityActivities(deps),
  };
}
