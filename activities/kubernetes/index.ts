import { createCleanupActivities } from './cleanup.js';
import type { KubernetesDeps } from './common.js';
import { createDeploymentActivities } from './deployments.js';
import { createHealthActivities } from './health.js';
import { createNodeActivities } from './nodes.js';
import { createSecurityActivities } from './security.js';

export type { KubernetesDeps } from './common.js';

/** Every Kubernetes activity; each answers "skipped: no cluster configured" when `kube` is null. */
export function createKubernetesActivities(deps: KubernetesDeps) {
  return {
    ...createHealthActivities(deps),
    ...createNodeActivities(deps),
    ...createDeploymentActivities(deps),
    ...createCleanupActivities(deps),
    ...createSecurityActivities(deps),
  };
}
