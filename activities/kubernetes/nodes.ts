import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { heartbeat, sleep } from '@temporalio/activity';
import { annotation, apiStatus, isNotFound, pollUntil, type KubernetesDeps } from './common.js';
import { fetchFailure } from '../http.js';
import { SKIPPED, type Skipped } from '../../domain/cluster.js';
import { failure, FailureType } from '../../domain/failures.js';

/** Who cordoned a node: set with the cordon, so a retry, a compensation or an operator can tell. */
export const CORDONED_BY = 'maintenance.trixtech.io/cordoned-by';
const MIRROR_POD = 'kubernetes.io/config.mirror';

export interface NodeFacts {
  node: string;
  ready: boolean;
  unschedulable: boolean;
  cordonedBy: string | null;
  bootId: string;
  kubeletVersion: string;
}

export interface CordonResult extends NodeFacts {
  /** False when the node was already cordoned: by this run (a retry) or by someone else. */
  changed: boolean;
}

export interface UncordonResult extends NodeFacts {
  changed: boolean;
  detail: string;
}

export interface DrainInput {
  node: string;
  /** Give up (non-retryable DrainTimeout) when pods are still there after this long. */
  timeoutSeconds: number;
  /** Passed to each eviction; the pod's own grace period when absent. */
  gracePeriodSeconds?: number;
  /** Like `kubectl drain --ignore-daemonsets`: leave DaemonSet pods (else refuse). */
  ignoreDaemonSets?: boolean;
  /** Like `--delete-emptydir-data`: evict pods whose emptyDir data is lost with them (else refuse). */
  deleteEmptyDirData?: boolean;
  /** Like `--force`: evict pods no controller will recreate (else refuse). */
  evictUnmanagedPods?: boolean;
  /** How often to look whether evicted pods are gone. */
  pollIntervalMs?: number;
  /** First wait after a 429 (disruption budget); doubles up to 8x. */
  evictionRetryMs?: number;
}

export interface DrainResult {
  node: string;
  evicted: string[];
  /** Pods that were gone before their eviction was asked for (404): counted as evicted. */
  alreadyGone: string[];
  /** Pods a drain leaves on the node, with why: DaemonSet and mirror pods. */
  left: { pod: string; reason: string }[];
  waitedMs: number;
}

export interface WaitForNodeReadyInput {
  node: string;
  timeoutSeconds: number;
  pollIntervalMs?: number;
  /** Wait for a boot id other than this one too: the node rebooted into its update. */
  rebootedFrom?: string;
}

const podName = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

function facts(n: V1Node): NodeFacts {
  return {
    node: n.metadata!.name!,
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    unschedulable: Boolean(n.spec?.unschedulable),
    cordonedBy: annotation(n, CORDONED_BY) ?? null,
    bootId: n.status?.nodeInfo?.bootID ?? '',
    kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '',
  };
}

/** Why `kubectl drain` would leave a pod (`left`) or refuse the whole drain (`refused`); undefined: evict it. */
function classify(pod: V1Pod, input: DrainInput): { left?: string; refused?: string } | undefined {
  if (annotation(pod, MIRROR_POD)) return { left: 'mirror pod (managed by the kubelet)' };
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return undefined;
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  if (controller?.kind === 'DaemonSet') {
    return input.ignoreDaemonSets === false
      ? { refused: 'DaemonSet-managed (drain with ignoreDaemonSets)' }
      : { left: 'DaemonSet-managed' };
  }
  if (!controller && !input.evictUnmanagedPods)
    return { refused: 'not managed by a controller, so it would not come back (drain with evictUnmanagedPods)' };
  if (pod.spec?.volumes?.some((v) => v.emptyDir) && !input.deleteEmptyDirData)
    return { refused: 'has emptyDir data that eviction deletes (drain with deleteEmptyDirData)' };
  return undefined;
}

/** Pods grouped by why their eviction was refused: one budget usually blocks several pods. */
function blockedSummary(blocked: Map<string, string>): string {
  const byReason = new Map<string, string[]>();
  for (const [pod, why] of blocked) byReason.set(why, [...(byReason.get(why) ?? []), pod]);
  return [...byReason].map(([why, pods]) => `${pods.join(', ')}: ${why}`).join('; ');
}

export function createNodeActivities({ kube }: KubernetesDeps) {
  const core = () => kube!.makeApiClient(CoreV1Api);

  async function readNode(node: string): Promise<V1Node> {
    try {
      return await core().readNode({ name: node });
    } catch (err) {
      if (isNotFound(err)) throw failure(FailureType.NodeNotFound, `node ${node} does not exist`);
      throw err;
    }
  }

  /**
   * A compare-and-set on the node: `decide` sees the node as read and returns either a result (nothing
   * to change) or a patch, sent with the resourceVersion read. A concurrent change (a kubelet
   * heartbeat) answers 409: the node is read and decided on again, a few times, before the 409 is
   * left to the activity's retry.
   */
  async function patchNodeIfUnchanged<R>(
    node: string,
    strategy: PatchStrategy,
    decide: (
      current: V1Node,
    ) => { result: R } | { patch: { metadata?: object; spec?: object }; then: (n: V1Node) => R },
  ): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      const current = await readNode(node);
      const next = decide(current);
      if ('result' in next) return next.result;
      const body = {
        ...next.patch,
        metadata: { ...next.patch.metadata, resourceVersion: current.metadata?.resourceVersion },
      };
      try {
        return next.then(await core().patchNode({ name: node, body }, setHeaderOptions('Content-Type', strategy)));
      } catch (err) {
        if (apiStatus(err).code !== 409 || attempt >= 5) throw err;
      }
    }
  }

  return {
    /**
     * `kubectl cordon`, marked with who did it, as a compare-and-set (`patchNodeIfUnchanged`).
     */
    async cordonNode({ node, owner }: { node: string; owner: string }): Promise<CordonResult | Skipped> {
      if (!kube) return SKIPPED;
      return patchNodeIfUnchanged<CordonResult>(node, PatchStrategy.MergePatch, (current) =>
        current.spec?.unschedulable
          ? { result: { ...facts(current), changed: false } }
          : {
              patch: { metadata: { annotations: { [CORDONED_BY]: owner } }, spec: { unschedulable: true } },
              then: (patched) => ({ ...facts(patched), changed: true }),
            },
      );
    },

    /**
     * `kubectl uncordon`. With `onlyIfCordonedBy`, only a cordon that owner made is lifted: a
     * compensation must not undo an operator's own cordon.
     */
    async uncordonNode({
      node,
      onlyIfCordonedBy,
    }: {
      node: string;
      onlyIfCordonedBy?: string;
    }): Promise<UncordonResult | Skipped> {
      if (!kube) return SKIPPED;
      return patchNodeIfUnchanged<UncordonResult>(node, PatchStrategy.StrategicMergePatch, (current) => {
        const f = facts(current);
        if (!f.unschedulable && !f.cordonedBy)
          return { result: { ...f, changed: false, detail: 'node was schedulable' } };
        if (onlyIfCordonedBy && f.cordonedBy !== onlyIfCordonedBy) {
          const by = f.cordonedBy ?? 'someone else';
          return {
            result: { ...f, changed: false, detail: `left cordoned: cordoned by ${by}, not by ${onlyIfCordonedBy}` },
          };
        }
        return {
          patch: { metadata: { annotations: { [CORDONED_BY]: null } }, spec: { unschedulable: null } },
          then: (patched) => ({ ...facts(patched), changed: true, detail: 'uncordoned' }),
        };
      });
    },

    /**
     * `kubectl drain` on a cordoned node: every pod but DaemonSet and mirror pods is evicted
     * through the Eviction API, so PodDisruptionBudgets are honoured (429s are retried with
     * backoff until the timeout); then waits until the evicted pods are gone. Pods that would
     * be lost (no controller, emptyDir data) refuse the drain before anything is evicted.
     */
    async drainNode(input: DrainInput): Promise<DrainResult | Skipped> {
      if (!kube) return SKIPPED;
      const { node, timeoutSeconds, gracePeriodSeconds } = input;
      const pollIntervalMs = input.pollIntervalMs ?? 1000;
      const retryMs = input.evictionRetryMs ?? 1000;
      const started = Date.now();
      const deadline = started + timeoutSeconds * 1000;
      const api = core();

      if (!(await readNode(node)).spec?.unschedulable) {
        throw failure(
          FailureType.NodeNotCordoned,
          `node ${node} is schedulable: cordon it before draining, or evicted pods may come back to it`,
        );
      }
      const onNode = async () => (await api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items;
      const pods = await onNode();
      const left: DrainResult['left'] = [];
      const refused: string[] = [];
      const toEvict: V1Pod[] = [];
      for (const pod of pods) {
        const verdict = classify(pod, input);
        if (verdict?.left) left.push({ pod: podName(pod), reason: verdict.left });
        else if (verdict?.refused) refused.push(`${podName(pod)}: ${verdict.refused}`);
        else toEvict.push(pod);
      }
      if (refused.length > 0)
        throw failure(FailureType.DrainRefused, `cannot drain ${node}: ${refused.join('; ')}`, {
          details: { refused },
        });

      const blocked = new Map<string, string>();
      const evicted: string[] = [];
      const alreadyGone: string[] = [];
      const progress = () => ({
        node,
        toEvict: toEvict.length,
        evicted: evicted.length,
        alreadyGone: alreadyGone.length,
        blocked: Object.fromEntries(blocked),
      });
      const timeout = (what: string) =>
        failure(
          FailureType.DrainTimeout,
          `drain of ${node} timed out after ${timeoutSeconds} s: ${what}${blocked.size ? `; blocked: ${blockedSummary(blocked)}` : ''}`,
          { details: progress() },
        );

      // Once one pod's eviction has failed the drain, the others stop asking: nothing is evicted after the activity has failed.
      let failed = false;
      await Promise.all(
        toEvict.map(async (pod) => {
          const name = podName(pod);
          for (let wait = retryMs; !failed; wait = Math.min(wait * 2, retryMs * 8)) {
            try {
              await api.createNamespacedPodEviction({
                name: pod.metadata!.name!,
                namespace: pod.metadata!.namespace!,
                body: {
                  apiVersion: 'policy/v1',
                  kind: 'Eviction',
                  metadata: { name: pod.metadata!.name!, namespace: pod.metadata!.namespace! },
                  ...(gracePeriodSeconds !== undefined ? { deleteOptions: { gracePeriodSeconds } } : {}),
                },
              });
              blocked.delete(name);
              evicted.push(name);
              return;
            } catch (err) {
              const status = apiStatus(err);
              if (status.code === 404) {
                alreadyGone.push(name);
                return;
              }
              if (status.code !== 429) {
                failed = true;
                throw err;
              }
              blocked.set(name, status.message);
              heartbeat(progress());
              if (Date.now() + wait > deadline) {
                failed = true;
                throw timeout(`${blocked.size} pod(s) could not be evicted`);
              }
              await sleep(wait);
            }
          }
        }),
      );

      // Gone means no pod with that uid is on the node any more (a same-named replacement is not the pod we evicted).
      const evictedUids = new Set(toEvict.map((p) => p.metadata!.uid!));
      await pollUntil({
        timeoutMs: Math.max(0, deadline - Date.now()),
        intervalMs: pollIntervalMs,
        check: async () => {
          const remaining = (await onNode()).filter((p) => evictedUids.has(p.metadata!.uid!));
          return remaining.length === 0 ? true : undefined;
        },
        progress,
        onTimeout: () => timeout('evicted pods still terminating'),
      });
      return { node, evicted, alreadyGone, left, waitedMs: Date.now() - started };
    },

    /**
     * Asks the automation that updates nodes (an HTTP hook, e.g. a job runner's webhook) to update
     * this drained node. The run id is the idempotency key: a retried request names the same run.
     */
    async requestNodeUpdate({
      url,
      node,
      runId,
    }: {
      url: string;
      node: string;
      runId: string;
    }): Promise<{ status: number }> {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': `${runId}/${node}` },
        body: JSON.stringify({ node, runId }),
        signal: AbortSignal.timeout(30_000),
      }).catch((err: unknown) => {
        throw new Error(`node update hook unreachable for ${node}: ${fetchFailure(err, 30_000)}`);
      });
      await res.body?.cancel();
      if (res.status >= 400 && res.status < 500)
        throw failure(FailureType.UpdateHookRejected, `node update hook answered HTTP ${res.status} for ${node}`);
      if (!res.ok) throw new Error(`node update hook answered HTTP ${res.status} for ${node}`);
      return { status: res.status };
    },

    /** Waits until the node reports Ready (and, with `rebootedFrom`, has booted again). */
    async waitForNodeReady(input: WaitForNodeReadyInput): Promise<(NodeFacts & { waitedMs: number }) | Skipped> {
      if (!kube) return SKIPPED;
      const started = Date.now();
      let last: NodeFacts | undefined;
      let lastCondition = '';
      const result = await pollUntil({
        timeoutMs: input.timeoutSeconds * 1000,
        intervalMs: input.pollIntervalMs ?? 2000,
        check: async () => {
          const node = await readNode(input.node);
          last = facts(node);
          const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
          lastCondition = ready
            ? `Ready=${ready.status} (${ready.reason ?? ''}${ready.message ? `: ${ready.message}` : ''})`
            : 'no Ready condition';
          const rebooted = !input.rebootedFrom || last.bootId !== input.rebootedFrom;
          return last.ready && rebooted ? last : undefined;
        },
        progress: () => ({ node: input.node, lastCondition }),
        onTimeout: () =>
          failure(
            FailureType.NodeNotReady,
            `node ${input.node} not ${input.rebootedFrom && last?.bootId === input.rebootedFrom ? 'rebooted' : 'Ready'} after ${input.timeoutSeconds} s: ${lastCondition}`,
          ),
      });
      return { ...result, waitedMs: Date.now() - started };
    },
  };
}
