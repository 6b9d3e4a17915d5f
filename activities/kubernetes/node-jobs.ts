import { BatchV1Api, CoreV1Api, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { apiStatus, isNotFound, pollUntil, type KubernetesDeps } from './common.js';
import { instantQuery } from './prometheus.js';
import { SKIPPED, type Skipped } from '../../domain/cluster.js';
import { failure, FailureType } from '../../domain/failures.js';
import type { HttpTarget } from '../../domain/http-target.js';
import { DEFAULT_THRESHOLDS } from '../../domain/thresholds.js';
import {
  commandsFor,
  NODE_JOB_DEFAULTS,
  NODE_JOB_LOG_LINES,
  nodeJobCommand,
  nodeJobName,
  nodeJobRunLabel,
  nodeJobScript,
  rebootRequiredFrom,
  type NodeDiskSurvey,
  type NodeJobPurpose,
  type NodeJobRef,
  type NodeJobResult,
  type NodeJobSettings,
} from '../../domain/node-jobs.js';
import { clipText as clip } from '../../domain/input-errors.js';

const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const NODE_JOB_LABELS = {
  purpose: 'maintenance.trixtech.io/node-job',
  node: 'maintenance.trixtech.io/node',
  /** The run's workflow id, hashed into a label value (ids may hold `/`); the id itself is an annotation. */
  run: 'maintenance.trixtech.io/run',
} as const;
const WORKFLOW_ID = 'maintenance.trixtech.io/workflow-id';

export interface NodeJobDeps extends KubernetesDeps {
  nodeJobs?: NodeJobSettings;
}

export const DEFAULT_DISK_THRESHOLDS = {
  warnPercent: DEFAULT_THRESHOLDS.diskWarnPercent,
  criticalPercent: DEFAULT_THRESHOLDS.diskCriticalPercent,
};

/** `https://user:secret@host` -> `https://user:***@host`: apt prints its sources, which may carry credentials. */
const maskUrlPasswords = (line: string) => line.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi, '$1:***@');

/** The job's script and marker say nothing secret; the log is still clipped and masked before it is kept. */
function tidyLog(raw: string): string[] {
  return raw
    .split('\n')
    .filter((l, i, all) => l !== '' || i < all.length - 1)
    .slice(-NODE_JOB_LOG_LINES)
    .map((l) => clip(maskUrlPasswords(l), 500));
}

/** Why a Job failed, in the controller's and the kubelet's words. */
function jobFailure(job: V1Job, pod: V1Pod | undefined): string {
  const failed = job.status?.conditions?.find((c) => FAILED.has(c.type) && c.status === 'True');
  const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
  return [
    failed ? `${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`.trim() : 'failed',
    ...(terminated
      ? [
          `container ${terminated.reason ?? 'terminated'} with exit code ${terminated.exitCode}${terminated.message ? ` (${terminated.message})` : ''}`,
        ]
      : []),
  ].join('; ');
}

/**
 * The controller's verdicts: `FailureTarget` is final at once (the Job then waits for its pods to
 * terminate before it says `Failed`, up to their grace period); `Complete` comes with the pod done.
 */
const FAILED: ReadonlySet<string> = new Set(['Failed', 'FailureTarget']);
const jobDone = (job: V1Job, verdict: 'Complete' | 'Failed') =>
  job.status?.conditions?.some(
    (c) => (verdict === 'Failed' ? FAILED.has(c.type) : c.type === 'Complete') && c.status === 'True',
  ) ?? false;

/**
 * Work on a node's host OS as a Job pinned to the node (kured's and system-upgrade-controller's
 * way): privileged, host PID namespace, `nsenter` into PID 1's namespaces, tolerating every taint
 * (the node is cordoned), no retries (backoffLimit 0), bounded by activeDeadlineSeconds, removed by
 * Kubernetes `ttlSecondsAfterFinished` after it ends. Jobs live in the application namespace.
 */
export function createNodeJobActivities({
  kube,
  namespace,
  nodeJobs = NODE_JOB_DEFAULTS,
  prometheus,
  diskThresholds = DEFAULT_DISK_THRESHOLDS,
}: NodeJobDeps) {
  const batch = () => kube!.makeApiClient(BatchV1Api);
  const core = () => kube!.makeApiClient(CoreV1Api);

  function jobObject(input: StartNodeJobInput, name: string, commands: string[]): V1Job {
    const labels = {
      [MANAGED_BY]: 'trixtech-maintenance',
      [NODE_JOB_LABELS.purpose]: input.purpose,
      [NODE_JOB_LABELS.node]: input.node.slice(0, 63).replace(/[^a-z0-9]+$/, ''),
      [NODE_JOB_LABELS.run]: nodeJobRunLabel(input.workflowId),
    };
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace, labels, annotations: { [WORKFLOW_ID]: input.workflowId } },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: input.deadlineSeconds,
        ttlSecondsAfterFinished: nodeJobs.ttlSecondsAfterFinished,
        template: {
          metadata: {
            labels,
            ...(Object.keys(nodeJobs.podAnnotations).length ? { annotations: nodeJobs.podAnnotations } : {}),
          },
          spec: {
            nodeName: input.node,
            restartPolicy: 'Never',
            hostPID: true,
            // The host's commands need no Kubernetes API: no token in the pod.
            automountServiceAccountToken: false,
            // The node is cordoned (node.kubernetes.io/unschedulable) and may carry any other taint.
            tolerations: [{ operator: 'Exists' }],
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: input.purpose,
                image: nodeJobs.image,
                command: nodeJobCommand(nodeJobScript(commands, input.purpose)),
                securityContext: { privileged: true },
              },
            ],
          },
        },
      },
    };
  }

  async function jobPod(name: string): Promise<V1Pod | undefined> {
    const pods = await core().listNamespacedPod({ namespace, labelSelector: `job-name=${name}` });
    // backoffLimit 0 makes one pod; should there be more (a pod deleted and replaced), the newest.
    const created = (p: V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
    return pods.items.sort((a, b) => created(b) - created(a))[0];
  }

  async function podLog(pod: V1Pod | undefined): Promise<string[]> {
    if (!pod) return [];
    try {
      const log = await core().readNamespacedPodLog({
        name: pod.metadata!.name!,
        namespace,
        container: pod.spec?.containers[0]?.name,
        tailLines: NODE_JOB_LOG_LINES,
        limitBytes: 256 * 1024,
      });
      return tidyLog(String(log));
    } catch (err) {
      return [`(log unreadable: ${apiStatus(err).message})`];
    }
  }

  return {
    /**
     * Creates the node's Job, named after the run and node: a retry finds the Job its first
     * attempt made (409) and returns it instead of making a second.
     */
    async startNodeJob(input: StartNodeJobInput): Promise<NodeJobRef | Skipped> {
      if (!kube) return SKIPPED;
      const name = nodeJobName(input.workflowId, input.node, input.purpose);
      const commands = commandsFor(nodeJobs, input.purpose);
      const ref = { name, namespace, node: input.node, purpose: input.purpose, image: nodeJobs.image, commands };
      try {
        await batch().createNamespacedJob({ namespace, body: jobObject(input, name, commands) });
        return { ...ref, created: true };
      } catch (err) {
        const status = apiStatus(err);
        // Refused as invalid or by policy (privileged pods not allowed, a quota): no retry changes that.
        if (status.code === 422 || status.code === 403)
          throw failure(FailureType.NodeJobFailed, `cannot create job ${namespace}/${name}: ${status.message}`);
        if (status.code !== 409) throw err;
        const existing = await batch().readNamespacedJob({ name, namespace });
        if (existing.metadata?.annotations?.[WORKFLOW_ID] !== input.workflowId)
          throw failure(FailureType.NodeJobFailed, `job ${namespace}/${name} exists and belongs to another run`);
        return { ...ref, created: false };
      }
    },

    /**
     * Waits until the Job completes (heartbeating), then reads its pod's log: the tail for the
     * report, and the reboot marker the script ends with. A failed Job (a command failed, or it
     * ran past activeDeadlineSeconds) fails with the controller's reason and the log's tail.
     */
    async waitForNodeJob(input: {
      name: string;
      node: string;
      timeoutSeconds: number;
      pollIntervalMs?: number;
      /** Update jobs end with the reboot marker: wait for it to show in the log (a kubelet may serve it late). */
      expectMarker: boolean;
    }): Promise<NodeJobResult | Skipped> {
      if (!kube) return SKIPPED;
      const started = Date.now();
      let phase = 'not started';
      const job = await pollUntil({
        timeoutMs: input.timeoutSeconds * 1000,
        intervalMs: input.pollIntervalMs ?? 2000,
        check: async () => {
          let j: V1Job;
          try {
            j = await batch().readNamespacedJob({ name: input.name, namespace });
          } catch (err) {
            if (isNotFound(err))
              throw failure(FailureType.NodeJobFailed, `job ${namespace}/${input.name} for ${input.node} is gone`);
            throw err;
          }
          phase = `active ${j.status?.active ?? 0}, succeeded ${j.status?.succeeded ?? 0}, failed ${j.status?.failed ?? 0}`;
          return jobDone(j, 'Complete') || jobDone(j, 'Failed') ? j : undefined;
        },
        progress: () => ({ job: input.name, node: input.node, phase }),
        onTimeout: () =>
          failure(
            FailureType.NodeJobFailed,
            `job ${namespace}/${input.name} on ${input.node} had no verdict after ${input.timeoutSeconds} s (${phase})`,
          ),
      });
      const pod = await jobPod(input.name);
      if (jobDone(job, 'Failed')) {
        const log = await podLog(pod);
        throw failure(
          FailureType.NodeJobFailed,
          clip(
            `job ${namespace}/${input.name} on ${input.node} failed: ${jobFailure(job, pod)}; last log lines: ${log.slice(-15).join(' | ') || '(none)'}`,
            2000,
          ),
          { details: { job: input.name, node: input.node, log } },
        );
      }
      let log = await podLog(pod);
      if (input.expectMarker && rebootRequiredFrom(log) === undefined) {
        log = await pollUntil({
          timeoutMs: 60_000,
          intervalMs: input.pollIntervalMs ?? 2000,
          check: async () => {
            const l = await podLog(pod);
            return rebootRequiredFrom(l) === undefined ? undefined : l;
          },
          progress: () => ({ job: input.name, node: input.node, phase: 'complete, reading its log' }),
          onTimeout: () =>
            failure(
              FailureType.NodeJobFailed,
              `job ${namespace}/${input.name} on ${input.node} completed, but its log has no reboot-required line: last lines: ${log.slice(-5).join(' | ') || '(none)'}`,
            ),
        });
      }
      return {
        name: input.name,
        node: input.node,
        ...(input.expectMarker ? { rebootRequired: rebootRequiredFrom(log) } : {}),
        log,
        waitedMs: Date.now() - started,
      };
    },

    /** Deletes the Job and its pod (a stopped or finished job, or one a failed run leaves); gone already is done. */
    async deleteNodeJob({ name }: { name: string }): Promise<{ name: string; deleted: boolean } | Skipped> {
      if (!kube) return SKIPPED;
      try {
        await batch().deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' });
        return { name, deleted: true };
      } catch (err) {
        if (isNotFound(err)) return { name, deleted: false };
        throw err;
      }
    },

    /**
     * Every node's disk state against the disk threshold (config `thresholds.diskWarnPercent`, the
     * seed's THRESHOLD=80, or `thresholdPercent`): the kubelet's DiskPressure condition, and, with
     * Prometheus, the root filesystem's use from node-exporter (`node_filesystem_*` by `instance`,
     * which must be the node's name, as kube-prometheus-stack labels it).
     */
    async surveyNodeDisks({ thresholdPercent }: { thresholdPercent?: number } = {}): Promise<NodeDiskSurvey | Skipped> {
      if (!kube) return SKIPPED;
      const threshold = thresholdPercent ?? diskThresholds.warnPercent;
      const nodes = (await core().listNode()).items;
      const used = prometheus ? await rootFilesystemUse(prometheus) : new Map<string, number>();
      return {
        thresholdPercent: threshold,
        source: prometheus
          ? `node-exporter through Prometheus ${prometheus.name}, and the kubelets' DiskPressure`
          : "the kubelets' DiskPressure condition (no targets.prometheus: no usage figures)",
        image: nodeJobs.image,
        commands: nodeJobs.diskCleanup,
        nodes: nodes.map((n) => {
          const node = n.metadata!.name!;
          const usedPercent = used.get(node);
          const diskPressure =
            n.status?.conditions?.some((c) => c.type === 'DiskPressure' && c.status === 'True') ?? false;
          const over = diskPressure
            ? 'DiskPressure'
            : usedPercent !== undefined && usedPercent > threshold
              ? `${usedPercent} % used > ${threshold} %`
              : undefined;
          return {
            node,
            diskPressure,
            ...(usedPercent !== undefined ? { usedPercent } : {}),
            ...(over ? { over } : {}),
          };
        }),
      };
    },
  };
}

export interface StartNodeJobInput {
  node: string;
  purpose: NodeJobPurpose;
  /** The run's workflow id: with the node and purpose, it names the Job. */
  workflowId: string;
  /** activeDeadlineSeconds: Kubernetes fails the Job when it runs longer. */
  deadlineSeconds: number;
}

const ROOT_FS_QUERY =
  '100 * (1 - max by (instance) (node_filesystem_avail_bytes{mountpoint="/",fstype!~"tmpfs|overlay"}) / max by (instance) (node_filesystem_size_bytes{mountpoint="/",fstype!~"tmpfs|overlay"}))';

/** Each node's root filesystem use (%) from node-exporter through Prometheus, by node name. */
export async function rootFilesystemUse(prometheus: HttpTarget): Promise<Map<string, number>> {
  const figures = new Map<string, number>();
  for (const { metric, value } of await instantQuery(prometheus, ROOT_FS_QUERY, 'the disk query')) {
    // node-exporter's instance is host:port unless relabelled to the node's name.
    const node = (metric.instance ?? '').replace(/:\d+$/, '');
    if (node) figures.set(node, Math.round(value * 10) / 10);
  }
  return figures;
}
