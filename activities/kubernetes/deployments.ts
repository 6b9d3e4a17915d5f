import {
  AppsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1ReplicaSet,
} from '@kubernetes/client-node';
import { annotation, canonicalJson, isNotFound, pollUntil, type KubernetesDeps } from './common.js';
import { SKIPPED, type Skipped } from '../../domain/cluster.js';
import { failure, FailureType } from '../../domain/failures.js';

const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const TEMPLATE_HASH = 'pod-template-hash';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

export interface DeploymentRef {
  deployment: string;
  /** Default: the configured application namespace. */
  namespace?: string;
}

export interface DeploymentRevision {
  deployment: string;
  namespace: string;
  revision: string;
  /** The ReplicaSet holding that revision's pod template. */
  replicaSet: string | null;
  images: Record<string, string>;
}

export interface WaitForRolloutInput extends DeploymentRef {
  timeoutSeconds: number;
  pollIntervalMs?: number;
}

export interface RolloutResult {
  deployment: string;
  revision: string;
  replicas: number;
  waitedMs: number;
}

const images = (d: V1Deployment) =>
  Object.fromEntries((d.spec?.template.spec?.containers ?? []).map((c) => [c.name, c.image ?? '']));
const ownedBy = (rs: V1ReplicaSet, d: V1Deployment) =>
  rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === d.metadata?.uid);
/** The revisions a ReplicaSet has held: its current one and those it held before a rollback reused it. */
const revisionsOf = (rs: V1ReplicaSet) =>
  [annotation(rs, REVISION), ...(annotation(rs, REVISION_HISTORY)?.split(',') ?? [])].filter(Boolean);

/** `kubectl rollout status`: the outcome once the controller has seen the latest spec, or undefined while in progress. */
function rolloutState(d: V1Deployment): { done: true } | { failed: string } | undefined {
  const { metadata, spec, status } = d;
  if ((status?.observedGeneration ?? 0) < (metadata?.generation ?? 0)) return undefined;
  const progressing = status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    return { failed: progressing.message ?? 'progress deadline exceeded' };
  const desired = spec?.replicas ?? 1;
  const updated = status?.updatedReplicas ?? 0;
  if (updated < desired) return undefined;
  if ((status?.replicas ?? 0) > updated) return undefined;
  if ((status?.availableReplicas ?? 0) < updated) return undefined;
  return { done: true };
}

/** Rolled out: every replica updated and available, as `kubectl rollout status` waits for. */
export function isRolledOut(d: V1Deployment): boolean {
  const state = rolloutState(d);
  return state !== undefined && 'done' in state;
}

export function createDeploymentActivities({ kube, namespace: defaultNamespace }: KubernetesDeps) {
  const apps = () => kube!.makeApiClient(AppsV1Api);

  async function readDeployment({ deployment, namespace = defaultNamespace }: DeploymentRef): Promise<V1Deployment> {
    try {
      return await apps().readNamespacedDeployment({ name: deployment, namespace });
    } catch (err) {
      if (isNotFound(err))
        throw failure(FailureType.DeploymentNotFound, `deployment ${namespace}/${deployment} does not exist`);
      throw err;
    }
  }

  async function replicaSetsOf(d: V1Deployment): Promise<V1ReplicaSet[]> {
    const list = await apps().listNamespacedReplicaSet({ namespace: d.metadata!.namespace! });
    return list.items.filter((rs) => ownedBy(rs, d));
  }

  return {
    /** What to roll back to, recorded before anything changes: the revision, its ReplicaSet and images. */
    async readDeploymentRevision(ref: DeploymentRef): Promise<DeploymentRevision | Skipped> {
      if (!kube) return SKIPPED;
      const d = await readDeployment(ref);
      const revision = annotation(d, REVISION) ?? '0';
      const rs = (await replicaSetsOf(d)).find((r) => annotation(r, REVISION) === revision);
      return {
        deployment: d.metadata!.name!,
        namespace: d.metadata!.namespace!,
        revision,
        replicaSet: rs?.metadata?.name ?? null,
        images: images(d),
      };
    },

    /** `kubectl set image`: a strategic-merge patch of one container's image; no change when it already runs that image. */
    async setDeploymentImage(
      input: DeploymentRef & { container: string; image: string },
    ): Promise<{ changed: boolean; previousImage: string } | Skipped> {
      if (!kube) return SKIPPED;
      const d = await readDeployment(input);
      const previousImage = images(d)[input.container];
      if (previousImage === undefined) {
        throw failure(
          FailureType.ContainerNotFound,
          `deployment ${input.deployment} has no container ${input.container} (has: ${Object.keys(images(d)).join(', ')})`,
        );
      }
      if (previousImage === input.image) return { changed: false, previousImage };
      await apps().patchNamespacedDeployment(
        {
          name: input.deployment,
          namespace: d.metadata!.namespace!,
          body: { spec: { template: { spec: { containers: [{ name: input.container, image: input.image }] } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      return { changed: true, previousImage };
    },

    /**
     * `kubectl rollout status`: waits until the controller has observed the latest spec and every
     * replica is updated and available. A rollout past its progress deadline fails at once
     * (non-retryable RolloutFailed, with the controller's reason); waiting longer fails RolloutTimeout.
     */
    async waitForRollout(input: WaitForRolloutInput): Promise<RolloutResult | Skipped> {
      if (!kube) return SKIPPED;
      const started = Date.now();
      let last: V1Deployment | undefined;
      const done = await pollUntil({
        timeoutMs: input.timeoutSeconds * 1000,
        intervalMs: input.pollIntervalMs ?? 2000,
        check: async () => {
          last = await readDeployment(input);
          const state = rolloutState(last);
          if (state && 'failed' in state)
            throw failure(
              FailureType.RolloutFailed,
              `rollout of ${input.deployment} failed: ProgressDeadlineExceeded: ${state.failed}`,
            );
          return state ? last : undefined;
        },
        progress: () => ({
          deployment: input.deployment,
          updated: last?.status?.updatedReplicas ?? 0,
          available: last?.status?.availableReplicas ?? 0,
        }),
        onTimeout: () =>
          failure(
            FailureType.RolloutTimeout,
            `rollout of ${input.deployment} not complete after ${input.timeoutSeconds} s: ${last?.status?.updatedReplicas ?? 0} of ${last?.spec?.replicas ?? '?'} updated, ${last?.status?.availableReplicas ?? 0} available`,
          ),
      });
      return {
        deployment: input.deployment,
        revision: annotation(done, REVISION) ?? '0',
        replicas: done.spec?.replicas ?? 0,
        waitedMs: Date.now() - started,
      };
    },

    /**
     * Puts the pod template of the given revision back (its ReplicaSet's template), never a
     * blind "undo": run twice, it lands on the same template. The controller then reuses that
     * ReplicaSet under a new revision number and remembers the old one in revision-history,
     * which is why both are searched.
     */
    async rollbackDeployment(
      input: DeploymentRef & { toRevision: string },
    ): Promise<{ changed: boolean; replicaSet: string } | Skipped> {
      if (!kube) return SKIPPED;
      const d = await readDeployment(input);
      const replicaSets = await replicaSetsOf(d);
      const target = replicaSets.find((rs) => revisionsOf(rs).includes(input.toRevision));
      if (!target?.spec?.template) {
        const known = replicaSets
          .flatMap(revisionsOf)
          .sort((a, b) => Number(a) - Number(b))
          .join(', ');
        throw failure(
          FailureType.RevisionNotFound,
          `deployment ${input.deployment} has no ReplicaSet for revision ${input.toRevision} (known: ${known || 'none'})`,
        );
      }
      const template = structuredClone(target.spec.template);
      delete template.metadata?.labels?.[TEMPLATE_HASH];
      const replicaSet = target.metadata!.name!;
      if (canonicalJson(template) === canonicalJson(d.spec!.template)) return { changed: false, replicaSet };
      // A full replace with the read resourceVersion: a concurrent change answers 409 and the retry starts over.
      await apps().replaceNamespacedDeployment({
        name: d.metadata!.name!,
        namespace: d.metadata!.namespace!,
        body: { ...d, spec: { ...d.spec!, template } },
      });
      return { changed: true, replicaSet };
    },

    /**
     * `kubectl rollout restart`, made idempotent: the restart stamp comes from the caller (fixed in
     * workflow history), so a retry finds it already set and changes nothing.
     */
    async restartDeployment(input: DeploymentRef & { restartedAt: string }): Promise<{ changed: boolean } | Skipped> {
      if (!kube) return SKIPPED;
      const d = await readDeployment(input);
      if (d.spec?.template.metadata?.annotations?.[RESTARTED_AT] === input.restartedAt) return { changed: false };
      await apps().patchNamespacedDeployment(
        {
          name: input.deployment,
          namespace: d.metadata!.namespace!,
          body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: input.restartedAt } } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      return { changed: true };
    },

    /** `kubectl scale`: sets the replica count; no change when it already has it. */
    async scaleDeployment(
      input: DeploymentRef & { replicas: number },
    ): Promise<{ changed: boolean; previousReplicas: number } | Skipped> {
      if (!kube) return SKIPPED;
      const d = await readDeployment(input);
      const previousReplicas = d.spec?.replicas ?? 1;
      if (previousReplicas === input.replicas) return { changed: false, previousReplicas };
      await apps().patchNamespacedDeployment(
        { name: input.deployment, namespace: d.metadata!.namespace!, body: { spec: { replicas: input.replicas } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return { changed: true, previousReplicas };
    },
  };
}
