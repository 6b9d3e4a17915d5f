import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { skipped, type CheckResult } from '../../domain/checks.js';
import { type KubernetesDeps } from './common.js';
import { NO_CLUSTER } from '../../domain/cluster.js';

/** Built-in holders of cluster-admin that every cluster has; reviewing them is noise. */
const SYSTEM_SUBJECT = /^system:/;

export function createSecurityActivities({ kube }: KubernetesDeps) {
  return {
    /** Seed "Verify access control configurations": every non-system subject bound to cluster-admin. */
    async reviewClusterAdminBindings(): Promise<CheckResult[]> {
      if (!kube) return [skipped('k8s.cluster-admin', '-', NO_CLUSTER)];
      const { items } = await kube.makeApiClient(RbacAuthorizationV1Api).listClusterRoleBinding();
      const holders = items
        .filter((b) => b.roleRef.kind === 'ClusterRole' && b.roleRef.name === 'cluster-admin')
        .flatMap((b) =>
          (b.subjects ?? []).map((s) => ({
            binding: b.metadata?.name ?? '?',
            subject: `${s.kind}/${s.namespace ? `${s.namespace}/` : ''}${s.name}`,
          })),
        )
        .filter((h) => !SYSTEM_SUBJECT.test(h.subject.split('/').pop()!));
      if (holders.length === 0) {
        return [
          {
            check: 'k8s.cluster-admin',
            target: 'cluster',
            status: 'ok',
            value: 0,
            unit: 'subjects',
            detail: 'only system subjects hold cluster-admin',
          },
        ];
      }
      return holders.map((h) => ({
        check: 'k8s.cluster-admin',
        target: h.subject,
        status: 'warn',
        threshold: 'no human or workload subject holds cluster-admin',
        detail: `${h.subject} holds cluster-admin through ClusterRoleBinding ${h.binding}`,
      }));
    },
  };
}
