// Node jobs on the suite's real control plane (issue 13): nodeUpdate with `update.method: "job"`
// and nodeDiskCleanup. The Job controller is Kubernetes' own; kwok plays the kubelet: it runs the
// Job's pod to completion (or, for the tests that ask through pod annotations, fails it or keeps it
// running) and serves its log from the files this file writes.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BatchV1Api, PatchStrategy, setHeaderOptions, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesActivities } from '../activities/kubernetes/index.js';
import { NODE_JOB_LABELS } from '../activities/kubernetes/node-jobs.js';
import { CORDONED_BY } from '../activities/kubernetes/nodes.js';
import { reportReboot } from '../dev/kube-local/reboot.js';
import { nodeJobName, nodeJobRunLabel, REBOOT_MARKER, type NodeDiskSurvey } from '../domain/node-jobs.js';
import type { RunReport } from '../domain/run.js';
import { nodeDiskCleanup } from '../workflows/node-disk-cleanup.js';
import { nodeUpdate, NodeUpdateInput } from '../workflows/node-update.js';
import { rollingNodeUpdate } from '../workflows/rolling-node-update.js';
import {
  clusterForFile,
  expectRbacExact,
  PART_OF,
  QUICK_PODS,
  serveLogFiles,
  waitUntil,
  type TestCluster,
} from './helpers/cluster.js';
import { workflowFailureOf } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { NEXT_VERSION, runActivity, TEST_PACE_NODE_UPDATE as FAST, VERSION } from './helpers/kube.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startPrometheus } from './helpers/prometheus.js';
import { uniqueId } from './helpers/stack.js';
import { temporalEnv, testConfig, withWorker, type WorkerContext } from './helpers/temporal.js';

const exec = promisify(execFile);
/** The commands the tests configure: the Job must carry exactly these. */
const UPDATE_COMMANDS = ['apt-get update', 'apt-get upgrade -y', 'unattended-upgrade -v'];
const CLEANUP_COMMANDS = ['apt-get clean', 'crictl rmi --prune', 'journalctl --vacuum-time=30d'];
const IMAGE = 'debian:12.8-slim';
/** kwok starts, readies and completes the job pods without its default 1-6 s delays. */
const QUICK_JOB_PODS = {
  ...QUICK_PODS,
  'pod-complete.stage.kwok.x-k8s.io/delay': '0s',
  'pod-complete.stage.kwok.x-k8s.io/jitter-delay': '0s',
};
/** scripts/kubernetes/kwok-stages.yaml `pod-job-failed`: the pod fails with this exit code instead of completing. */
const FAILING_JOB_PODS = {
  ...QUICK_PODS,
  'trixtech.test/kwok-exit-code': '100',
  'pod-complete.stage.kwok.x-k8s.io/weight': '0',
};
/** The pod runs and never completes: only the Job's activeDeadlineSeconds ends it. */
const HANGING_JOB_PODS = { ...QUICK_PODS, 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' };

describe('node jobs on the real control plane', { timeout: 240_000 }, () => {
  let reportDb: TestDatabase;
  let t: TestCluster;
  let batch: BatchV1Api;
  /** Per job container (named after the job's purpose): the log file kwok serves for it. */
  const logFile = (container: string) => join(t.workDir, `job-${container}.log`);
  const writeLog = (container: string, lines: string[]) =>
    writeFileSync(
      logFile(container),
      lines.map((l, i) => `${new Date(Date.now() - 60_000 + i * 1000).toISOString()} stdout F ${l}\n`).join(''),
    );

  beforeAll(async () => {
    [reportDb, t] = await Promise.all([createTestDatabase('maint_node_jobs'), clusterForFile('node-jobs')]);
    batch = t.admin.makeApiClient(BatchV1Api);
    for (const c of ['system-update', 'disk-cleanup', 'reboot']) writeLog(c, []);
    // kwok reads the files at each request: a test rewrites its job's log before the job runs.
    await serveLogFiles(
      t,
      ['system-update', 'disk-cleanup', 'reboot'].map((c) => ({ containers: [c], logsFile: logFile(c) })),
    );
  });
  afterAll(async () => {
    await reportDb?.drop();
    if (t) expectRbacExact(t, { everyGrantUsed: false });
    await t?.cleanup();
  });

  const configWith = (podAnnotations: Record<string, string>) =>
    testConfig(
      { MAINT_DATABASE_URL: reportDb.url, KUBECONFIG: t.workerKubeconfig },
      {
        targets: { kubernetes: { namespace: t.namespace } },
        nodeJobs: {
          image: IMAGE,
          systemUpdate: UPDATE_COMMANDS,
          diskCleanup: CLEANUP_COMMANDS,
          ttlSecondsAfterFinished: 600,
          podAnnotations,
        },
      },
    );
  const inCluster = <T>(podAnnotations: Record<string, string>, fn: (ctx: WorkerContext) => Promise<T>) =>
    withWorker(configWith(podAnnotations), fn);
  const storedReport = async (workflowId: string) =>
    (await reportDb.pool.query('SELECT outcome, report FROM maintenance_runs WHERE workflow_id = $1', [workflowId]))
      .rows[0] as { outcome: string; report: RunReport } | undefined;
  const node = (name: string) => t.core.readNode({ name });
  const jobsOn = async (n: string, purpose: string) =>
    (
      await batch.listNamespacedJob({ namespace: t.namespace, labelSelector: `${NODE_JOB_LABELS.purpose}=${purpose}` })
    ).items.filter((j) => j.spec?.template.spec?.nodeName === n && !j.metadata?.deletionTimestamp);
  const gone = (name: string) =>
    waitUntil(`job ${name} deleted`, async () =>
      (await batch.readNamespacedJob({ name, namespace: t.namespace }).then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    );
  /** A node holding one pod of `app`, which the drain evicts. */
  async function nodeWithPod(app: string): Promise<string> {
    const [n1] = (await t.addNodes(1)) as [string];
    await t.deploy(app, { replicas: 1, nodes: [n1], podAnnotations: QUICK_PODS });
    await waitUntil(`${app} running on ${n1}`, async () =>
      (await t.pods(`app=${app}`)).some((p) => p.spec?.nodeName === n1 && p.status?.phase === 'Running')
        ? true
        : undefined,
    );
    return n1;
  }
  const stepsFrom = (report: RunReport, first: string) => {
    const names = report.steps.map((s) => `${s.name}: ${s.outcome}`);
    return names.slice(names.findIndex((n) => n.startsWith(first)));
  };

  it('update job, the host asks for a reboot: drain, job on the node, reboot job, new boot id, uncordon', async () => {
    const n1 = await nodeWithPod('web-reboot');
    const before = await node(n1);
    writeLog('system-update', [
      '+ apt-get update',
      'Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]',
      '+ apt-get upgrade -y',
      'The following packages will be upgraded: linux-image-amd64',
      `${REBOOT_MARKER}yes`,
    ]);
    writeLog('reboot', ['+ systemctl reboot']);
    const workflowId = uniqueId('node-update-job');
    let updateJob: V1Job | undefined;
    const report = await inCluster(QUICK_JOB_PODS, async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeUpdate, {
        taskQueue,
        workflowId,
        args: [{ node: n1, ...FAST, update: { method: 'job', timeout: '60s' } }],
      });
      // The update job runs while the node is cordoned and drained.
      updateJob = await waitUntil('the update job', async () => (await jobsOn(n1, 'system-update'))[0]);
      expect((await node(n1)).spec?.unschedulable).toBe(true);
      expect((await t.pods('app=web-reboot')).filter((p) => p.spec?.nodeName === n1)).toEqual([]);
      // The host reboots when the reboot job runs: its kubelet comes back with a new boot id.
      await waitUntil('the reboot job', async () => (await jobsOn(n1, 'reboot'))[0]);
      await reportReboot(t.admin, n1, NEXT_VERSION);
      const result = await handle.result();
      // Job names derive from the workflow id: the replay runs under the same one.
      await recordHistory('nodeUpdate-job', await handle.fetchHistory(), workflowId);
      return result;
    });

    // The Job: pinned to the node, privileged in the host's namespaces, every taint tolerated, no retry, bounded.
    const job = updateJob!;
    const pod = job.spec!.template.spec!;
    expect(pod.nodeName).toBe(n1);
    expect(pod.hostPID).toBe(true);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0]!;
    expect(container.securityContext?.privileged).toBe(true);
    expect(container.image).toBe(IMAGE);
    expect(container.image).not.toMatch(/:latest$/);
    expect(container.command!.slice(0, 10)).toEqual(['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--', 'sh']);
    const script = container.command!.at(-1)!;
    for (const c of UPDATE_COMMANDS) expect(script).toContain(`\n${c}\n`);
    expect(script).toContain('/var/run/reboot-required');
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 60, ttlSecondsAfterFinished: 600 });
    expect(job.metadata?.labels).toMatchObject({
      [NODE_JOB_LABELS.purpose]: 'system-update',
      [NODE_JOB_LABELS.node]: n1,
      [NODE_JOB_LABELS.run]: nodeJobRunLabel(workflowId),
    });
    expect(job.metadata?.annotations?.['maintenance.trixtech.io/workflow-id']).toBe(workflowId);

    expect(report.outcome).toBe('ok');
    expect(report.summary).toContain(`Node ${n1} updated by job ${job.metadata!.name}: 1 pod(s) evicted, rebooted`);
    expect(report.summary).toContain(`kubelet ${VERSION} -> ${NEXT_VERSION}`);
    expect(stepsFrom(report, `cordon ${n1}`)).toEqual([
      `cordon ${n1}: ok`,
      `drain ${n1}: ok`,
      `start the update job on ${n1}: ok`,
      `update job on ${n1}: ok`,
      `start the reboot job on ${n1}: ok`,
      `${n1} Ready after reboot: ok`,
      expect.stringMatching(/^delete job node-reboot-[0-9a-f]{16}: ok$/),
      `uncordon ${n1}: ok`,
      'monitoring alerts cleared: skipped',
    ]);
    const details = report.details as { job: { log: string[]; rebootRequired: boolean }; rebootJob: { name: string } };
    expect(details.job.rebootRequired).toBe(true);
    expect(details.job.log).toContain('The following packages will be upgraded: linux-image-amd64');
    await gone(details.rebootJob.name);
    const after = await node(n1);
    expect(after.spec?.unschedulable).toBeUndefined();
    expect(after.metadata?.annotations?.[CORDONED_BY]).toBeUndefined();
    expect(after.status?.nodeInfo?.bootID).not.toBe(before.status?.nodeInfo?.bootID);
    expect((await storedReport(workflowId))?.outcome).toBe('ok');
  });

  it('update job, no reboot required: no reboot job, Ready on the same boot, uncordon', async () => {
    const n1 = await nodeWithPod('web-no-reboot');
    const bootId = (await node(n1)).status?.nodeInfo?.bootID;
    writeLog('system-update', ['+ apt-get update', '0 upgraded, 0 newly installed', `${REBOOT_MARKER}no`]);
    const workflowId = uniqueId('node-update-job-no-reboot');
    const report = await inCluster(QUICK_JOB_PODS, ({ client, taskQueue }) =>
      client.workflow.execute(nodeUpdate, {
        taskQueue,
        workflowId,
        args: [{ node: n1, ...FAST, update: { method: 'job', timeout: '60s' } }],
      }),
    );
    expect(report.outcome).toBe('ok');
    expect(report.summary).toContain('1 pod(s) evicted, no reboot required');
    expect(stepsFrom(report, `start the update job`)).toEqual([
      `start the update job on ${n1}: ok`,
      `update job on ${n1}: ok`,
      `${n1} Ready: ok`,
      `uncordon ${n1}: ok`,
      'monitoring alerts cleared: skipped',
    ]);
    expect(await jobsOn(n1, 'reboot')).toEqual([]);
    const after = await node(n1);
    expect(after.status?.nodeInfo?.bootID).toBe(bootId);
    expect(after.spec?.unschedulable).toBeUndefined();
  });

  it('method "job" refuses the hook options, naming them', () => {
    const parsed = NodeUpdateInput.safeParse({
      node: 'n1',
      update: { method: 'job', hookUrl: 'http://127.0.0.1:9/update', doneWhen: 'rebooted' },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toEqual([
      expect.objectContaining({
        path: ['update'],
        message: expect.stringContaining('hookUrl and doneWhen belong to method "hook"'),
      }),
    ]);
    expect(NodeUpdateInput.parse({ node: 'n1' }).update.method).toBe('hook');
  });

  it('rollingNodeUpdate passes the method to its nodeUpdate children', async () => {
    const n1 = await nodeWithPod('web-rolling-job');
    writeLog('system-update', ['+ apt-get update', `${REBOOT_MARKER}no`]);
    const workflowId = uniqueId('rolling-job');
    const report = await inCluster(QUICK_JOB_PODS, ({ client, taskQueue }) =>
      client.workflow.execute(rollingNodeUpdate, {
        taskQueue,
        workflowId,
        args: [{ nodes: [n1], node: { ...FAST, update: { method: 'job', timeout: '60s' } } }],
      }),
    );
    expect(report.outcome).toBe('ok');
    const nodes = (report.details as { nodes: { node: string; detail: string }[] }).nodes;
    expect(nodes).toEqual([
      {
        node: n1,
        outcome: 'ok',
        detail: expect.stringMatching(
          /^Node \S+ updated by job node-system-update-[0-9a-f]{16}: 1 pod\(s\) evicted, no reboot required/,
        ),
      },
    ]);
    expect((await batch.listNamespacedJob({ namespace: t.namespace })).items.map((j) => j.metadata?.name)).toContain(
      nodeJobName(`${workflowId}/${n1}`, n1, 'system-update'),
    );
  });

  it('a failing update job: the node is uncordoned, the job deleted, the report names the reason and the log', async () => {
    const n1 = await nodeWithPod('web-job-fails');
    writeLog('system-update', [
      '+ apt-get update',
      'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)',
    ]);
    const workflowId = uniqueId('node-update-job-fails');
    const failure = await inCluster(FAILING_JOB_PODS, ({ client, taskQueue }) =>
      workflowFailureOf(
        client.workflow.execute(nodeUpdate, {
          taskQueue,
          workflowId,
          args: [{ node: n1, ...FAST, update: { method: 'job', timeout: '60s' } }],
        }),
      ),
    );
    expect(failure.type).toBe('nodeUpdateFailed');
    expect(failure.message).toMatch(/failed: BackoffLimitExceeded: .*container Error with exit code 100/);
    expect(failure.message).toContain('E: Could not get lock /var/lib/dpkg/lock-frontend');
    expect(failure.message).toContain(`compensated: delete job node-system-update-`);
    expect(failure.message).toContain(`uncordon ${n1}`);
    expect((await node(n1)).spec?.unschedulable).toBeUndefined();
    expect(await jobsOn(n1, 'system-update')).toEqual([]);
    const stored = await storedReport(workflowId);
    expect(stored?.outcome).toBe('failed');
    expect(stepsFrom(stored!.report, `start the update job`)).toEqual([
      `start the update job on ${n1}: ok`,
      `update job on ${n1}: failed`,
      expect.stringMatching(/^compensate: delete job node-system-update-[0-9a-f]{16}: ok$/),
      `compensate: uncordon ${n1}: ok`,
    ]);
  });

  it('an update job past its deadline: Kubernetes stops it, the node is uncordoned, the report says so', async () => {
    const n1 = await nodeWithPod('web-job-hangs');
    writeLog('system-update', ['+ apt-get update', 'Waiting for cache lock: Could not get lock /var/lib/dpkg/lock']);
    const workflowId = uniqueId('node-update-job-hangs');
    const failure = await inCluster(HANGING_JOB_PODS, ({ client, taskQueue }) =>
      workflowFailureOf(
        client.workflow.execute(nodeUpdate, {
          taskQueue,
          workflowId,
          args: [{ node: n1, ...FAST, update: { method: 'job', timeout: '3s' } }],
        }),
      ),
    );
    expect(failure.type).toBe('nodeUpdateFailed');
    expect(failure.message).toMatch(/failed: DeadlineExceeded: Job was active longer than specified deadline/);
    expect(failure.message).toContain(`compensated: delete job node-system-update-`);
    expect((await node(n1)).spec?.unschedulable).toBeUndefined();
    expect(await jobsOn(n1, 'system-update')).toEqual([]);
    expect((await storedReport(workflowId))?.outcome).toBe('failed');
  });

  it("node disk figures: node-exporter's through a real Prometheus, over the threshold is a node to clean", async () => {
    const [full, fine] = (await t.addNodes(2)) as [string, string];
    // A node-exporter's root filesystem series; `instance` relabelled to the node's name (kube-prometheus-stack), or host:port.
    const series = (instance: string, avail: number) =>
      [
        `node_filesystem_avail_bytes{instance="${instance}",mountpoint="/",fstype="ext4"} ${avail}`,
        `node_filesystem_size_bytes{instance="${instance}",mountpoint="/",fstype="ext4"} 10000000000`,
        `node_filesystem_avail_bytes{instance="${instance}",mountpoint="/run",fstype="tmpfs"} 1`,
        `node_filesystem_size_bytes{instance="${instance}",mountpoint="/run",fstype="tmpfs"} 10000000000`,
      ].join('\n');
    const exporter = createServer((_req, res) =>
      res.end(`${series(full, 1_000_000_000)}\n${series(`${fine}:9100`, 8_000_000_000)}\n`),
    );
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const prometheus = await startPrometheus({
      scrapeTargets: [`127.0.0.1:${(exporter.address() as AddressInfo).port}`],
    });
    try {
      const activities = createKubernetesActivities({
        kube: t.worker,
        namespace: t.namespace,
        appLabelSelector: PART_OF,
        prometheus: { name: 'prometheus', url: prometheus.url },
        diskThresholds: { warnPercent: 80, criticalPercent: 85 },
      });
      const ours = (s: NodeDiskSurvey) => [full, fine].map((n) => s.nodes.find((x) => x.node === n));
      const survey = await waitUntil('Prometheus to have scraped the exporter', async () => {
        const s = (await runActivity(activities.surveyNodeDisks)) as NodeDiskSurvey;
        return ours(s).every((n) => n?.usedPercent !== undefined) ? s : undefined;
      });
      expect(ours(survey)).toEqual([
        { node: full, diskPressure: false, usedPercent: 90, over: '90 % used > 80 %' },
        { node: fine, diskPressure: false, usedPercent: 20 },
      ]);
      expect(survey.source).toContain('node-exporter through Prometheus prometheus');
      const higher = (await runActivity(activities.surveyNodeDisks, { thresholdPercent: 95 })) as NodeDiskSurvey;
      expect(ours(higher).map((n) => n?.over)).toEqual([undefined, undefined]);
      // The morning and Monday checks grade the same figures (node health): the checklist's disk items cover the nodes.
      const health = await runActivity(activities.checkNodeHealth);
      const diskFindings = health
        .filter((f) => f.check === 'node.disk' && [full, fine].includes(f.target))
        .map((f) => [f.target, f.status, f.value]);
      expect(diskFindings).toHaveLength(2);
      expect(diskFindings).toEqual(
        expect.arrayContaining([
          [full, 'critical', 90],
          [fine, 'ok', 20],
        ]),
      );
    } finally {
      prometheus.stop();
      exporter.close();
    }
  });

  it('nodeDiskCleanup: report lists the node under DiskPressure and the commands; clean runs them there as a job', async () => {
    const [full, fine] = (await t.addNodes(2)) as [string, string];
    // What a kubelet reports when the node's filesystem crosses its eviction threshold.
    const diskPressure = () =>
      t.core.patchNodeStatus(
        {
          name: full,
          body: {
            status: {
              conditions: [
                {
                  type: 'DiskPressure',
                  status: 'True',
                  reason: 'KubeletHasDiskPressure',
                  message: 'kubelet has disk pressure',
                  lastHeartbeatTime: new Date(),
                  lastTransitionTime: new Date(),
                },
              ],
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
    writeLog('disk-cleanup', ['+ apt-get clean', '+ crictl rmi --prune', 'Deleted: docker.io/library/old:1.0']);
    const ours = (report: RunReport) =>
      (report.checks ?? []).filter((c) => c.target === full || c.target === fine).map((c) => [c.target, c.status]);

    const reportId = uniqueId('node-disk-cleanup-report');
    await diskPressure();
    const listed = await inCluster(QUICK_JOB_PODS, ({ client, taskQueue }) =>
      client.workflow.execute(nodeDiskCleanup, { taskQueue, workflowId: reportId, args: [{}] }),
    );
    expect(ours(listed)).toEqual(
      expect.arrayContaining([
        [full, 'warn'],
        [fine, 'ok'],
      ]),
    );
    expect(listed.checks!.find((c) => c.target === full)!.detail).toBe(
      `DiskPressure: a clean run would run on it: ${CLEANUP_COMMANDS.join('; ')}`,
    );
    expect(listed.summary).toContain('(report only)');
    // maint plan: the same survey, as the operator reads it; nothing runs.
    const { stdout } = await exec(process.execPath, ['bin/maint.js', 'plan', 'nodeDiskCleanup'], {
      env: {
        ...process.env,
        ...temporalEnv(),
        MAINT_CONFIG: configWith({}).configFile!,
        MAINT_DATABASE_URL: reportDb.url,
        KUBECONFIG: t.workerKubeconfig,
      },
    });
    expect(stdout).toContain('plan for nodeDiskCleanup (nothing was changed)');
    expect(stdout).toContain('mode report: a run lists the nodes below (this plan runs nothing)');
    expect(stdout).toContain(`${full}: CLEAN (DiskPressure)`);
    expect(stdout).toContain(`${fine}: no DiskPressure`);
    expect(stdout).toContain(`a privileged Job (${IMAGE}, nsenter into the host) runs: ${CLEANUP_COMMANDS.join('; ')}`);
    expect(await jobsOn(full, 'disk-cleanup')).toEqual([]);

    const cleanId = uniqueId('node-disk-cleanup');
    await diskPressure();
    const cleaned = await inCluster(QUICK_JOB_PODS, async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeDiskCleanup, {
        taskQueue,
        workflowId: cleanId,
        args: [{ mode: 'clean', timeout: '60s', pollInterval: 200 }],
      });
      const result = await handle.result();
      await recordHistory('nodeDiskCleanup', await handle.fetchHistory(), cleanId);
      return result;
    });
    expect(ours(cleaned)).toEqual(
      expect.arrayContaining([
        [full, 'ok'],
        [fine, 'ok'],
      ]),
    );
    expect(cleaned.checks!.find((c) => c.target === full)!.detail).toMatch(
      /^DiskPressure: cleaned by job node-disk-cleanup-[0-9a-f]{16}$/,
    );
    const details = cleaned.details as { cleaned: { node: string; job: string; log: string[] }[] };
    expect(details.cleaned.map((c) => c.node)).toEqual([full]);
    expect(details.cleaned[0]!.log).toContain('Deleted: docker.io/library/old:1.0');
    await gone(details.cleaned[0]!.job);
    expect(await jobsOn(fine, 'disk-cleanup')).toEqual([]);
  });
});
