import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findTemporalBinary } from '../src/devserver.js';
import type { EmergencyInput } from '../src/domain/emergency.js';
import { emergencyMaintenance } from '../workflows/emergency-maintenance.js';
import { statusQuery } from '../workflows/lib/definitions.js';
import type { KubeDouble } from './k8s-double/double.js';
import { addDeployment, addNode } from './k8s-double/fixtures.js';
import { recordHistory } from './helpers/histories.js';
import { APP_NAMESPACE, expectAllGranted } from './helpers/kube.js';
import type { TestDatabase } from './helpers/postgres.js';
import type { SlackSink } from './helpers/slack-sink.js';
import { commandBody, interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { SIGNING_SECRET, sleep, startStack, uniqueId, until, type Stack } from './helpers/stack.js';

const exec = promisify(execFile);
const SECRET = SIGNING_SECRET;
const id = uniqueId;

describe('emergency maintenance behind approvals (Slack bridge, CLI, temporal CLI)', () => {
  let stack: Stack;
  let slack: SlackSink;
  let k8s: KubeDouble;
  let db: TestDatabase;
  let withBridge: Stack['withBridge'];

  beforeAll(async () => {
    stack = await startStack({
      emergencyMaintenance: { approvers: ['alice', 'bob'], required: 1 },
      slackUsers: { UALICE: 'alice', UBOB: 'bob', UMALLORY: 'mallory' },
    });
    ({ slack, k8s, db, withBridge } = stack);
    addNode(k8s, 'worker-1');
    addNode(k8s, 'worker-2');
    addDeployment(k8s, 'trixtech-backend', { replicas: 2 });
    await db.pool.query('CREATE TABLE bookings (id int PRIMARY KEY); INSERT INTO bookings SELECT generate_series(1, 2000); DELETE FROM bookings WHERE id % 2 = 0');
  });
  afterAll(async () => {
    const served = [...stack.served()];
    await stack.stop();
    expectAllGranted(served);
  });

  const request = (actions: EmergencyInput['actions'], extra: Partial<EmergencyInput> = {}): EmergencyInput => ({
    reason: 'backend leaking memory', severity: 'high', requestedBy: 'alice', actions, postMortemDelaySeconds: 1, ...extra,
  });
  const waitingForApproval = async (handle: WorkflowHandle) => (await handle.query(statusQuery)).waitingFor?.startsWith('approval') ?? false;
  const post = (url: string, body: string, headers: Record<string, string>) => fetch(url, { method: 'POST', body, headers });
  const replicas = () => (k8s.get('apps', 'deployments', APP_NAMESPACE, 'trixtech-backend') as { spec: { replicas: number } }).spec.replicas;

  it('proceeds once a correctly signed Slack button press approves it; forged, stale and unauthorised presses change nothing', async () => {
    await withBridge(async ({ client, taskQueue, bridgeUrl }) => {
      const workflowId = id('emergency-slack');
      const handle = await client.workflow.start(emergencyMaintenance, {
        taskQueue, workflowId, args: [request([{ kind: 'scale-deployment', deployment: 'trixtech-backend', replicas: 4 }])],
      });
      await until('the approval request', () => waitingForApproval(handle));
      const ask = slack.postsTo('/report').find((p) => JSON.stringify(p.body).includes(workflowId) && p.body.text?.includes('needs approval'));
      expect(JSON.stringify(ask?.body.blocks)).toContain('scale deployment default/trixtech-backend to 4 replicas');
      expect(JSON.stringify(ask?.body.blocks)).toContain('"action_id":"approve"');

      const url = `${bridgeUrl}/slack/interactions`;
      const body = interactionBody('UBOB', 'approve', workflowId, `${slack.url}/respond/1`);
      const forged = await post(url, body, slackHeaders(body, 'not-the-secret'));
      expect(forged.status).toBe(401);
      const stale = await post(url, body, slackHeaders(body, SECRET, Math.floor(Date.now() / 1000) - 6 * 60));
      expect(stale.status).toBe(401);
      const mallory = interactionBody('UMALLORY', 'approve', workflowId, `${slack.url}/respond/1`);
      expect((await post(url, mallory, slackHeaders(mallory, SECRET))).status).toBe(403);
      const stranger = interactionBody('USTRANGER', 'approve', workflowId, `${slack.url}/respond/1`);
      expect((await post(url, stranger, slackHeaders(stranger, SECRET))).status).toBe(403);
      await sleep(300);
      expect(await waitingForApproval(handle)).toBe(true);
      expect((await handle.query(statusQuery)).approvals).toEqual([]);
      expect(replicas()).toBe(2);

      const ok = await post(url, body, slackHeaders(body, SECRET));
      expect(ok.status).toBe(200);
      const report = await handle.result();
      await recordHistory('emergencyMaintenance', await handle.fetchHistory(), workflowId);

      expect(replicas()).toBe(4);
      expect(report.outcome).not.toBe('failed');
      expect(report.approvals).toEqual([expect.objectContaining({ decision: 'approve', approver: 'bob', via: 'slack' })]);
      expect(report.steps.map((s) => s.name)).toEqual(expect.arrayContaining(['health snapshot', 'approval', 'scale deployment default/trixtech-backend to 4 replicas', 'health check after']));
      expect(slack.postsTo('/respond/1')[0]?.body.text).toContain('Approved by bob via slack');
      // The post-mortem reminder comes on its durable timer after the report.
      expect(slack.postsTo('/report').some((p) => p.body.text?.includes(`Post-mortem due for emergency ${workflowId}`))).toBe(true);
      const stored = await db.pool.query('SELECT outcome FROM maintenance_runs WHERE workflow_id = $1', [workflowId]);
      expect(stored.rows).toHaveLength(1);
    });
  });

  it('a rejection through the slash command executes nothing', async () => {
    await withBridge(async ({ client, taskQueue, bridgeUrl }) => {
      const workflowId = id('emergency-reject');
      const handle = await client.workflow.start(emergencyMaintenance, {
        taskQueue, workflowId, args: [request([{ kind: 'scale-deployment', deployment: 'trixtech-backend', replicas: 9 }])],
      });
      await until('the approval request', () => waitingForApproval(handle));
      const url = `${bridgeUrl}/slack/commands`;
      const noReason = commandBody('UBOB', `reject ${workflowId}`);
      expect((await post(url, noReason, slackHeaders(noReason, SECRET))).status).toBe(400);
      const statusBody = commandBody('UBOB', `status ${workflowId}`);
      const status = await post(url, statusBody, slackHeaders(statusBody, SECRET));
      expect(((await status.json()) as { text: string }).text).toContain('waiting for approval');
      const reject = commandBody('UBOB', `reject ${workflowId} not during the sale`);
      const res = await post(url, reject, slackHeaders(reject, SECRET));
      expect(res.status).toBe(200);
      expect(((await res.json()) as { text: string }).text).toContain('Rejected by bob via slash-command: not during the sale');
      const report = await handle.result();
      expect(report.outcome).toBe('rejected');
      expect(report.summary).toContain('nothing was changed');
      expect(report.steps.some((s) => s.name.startsWith('scale deployment'))).toBe(false);
      expect(replicas()).not.toBe(9);
    });
  });

  it('escalates, then lapses with nothing changed when nobody decides', async () => {
    await withBridge(async ({ client, taskQueue }) => {
      const workflowId = id('emergency-timeout');
      const report = await client.workflow.execute(emergencyMaintenance, {
        taskQueue, workflowId,
        args: [request([{ kind: 'restart-deployment', deployment: 'trixtech-backend' }], { approval: { escalateAfterSeconds: 1, timeoutSeconds: 2.5 } })],
      });
      expect(report.outcome).toBe('timed-out');
      expect(report.summary).toContain('nothing was changed');
      const escalation = slack.postsTo('/alert').find((p) => p.body.text?.includes('ESCALATION') && JSON.stringify(p.body).includes(workflowId));
      expect(escalation).toBeDefined();
      const restarted = (k8s.get('apps', 'deployments', APP_NAMESPACE, 'trixtech-backend') as { spec: { template: { metadata: { annotations?: Record<string, string> } } } })
        .spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'];
      expect(restarted).toBeUndefined();
    });
  });

  it('the requester alone cannot approve (maint approve); a second approver through `temporal workflow signal` can', async () => {
    await withBridge(async ({ client, taskQueue }) => {
      const workflowId = id('emergency-cli');
      const handle = await client.workflow.start(emergencyMaintenance, {
        taskQueue, workflowId, args: [request([{ kind: 'cancel-runaway-queries', olderThanSeconds: 3600 }, { kind: 'vacuum-table', table: 'bookings' }])],
      });
      await until('the approval request', () => waitingForApproval(handle));
      const env = { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), MAINT_CONFIG: '' };
      const own = await exec(process.execPath, ['bin/maint.js', 'approve', workflowId, '--as', 'alice', '--comment', 'it is on fire'], { env });
      expect(own.stdout).toContain('approval by alice sent');
      await sleep(500);
      expect(await waitingForApproval(handle)).toBe(true);

      await exec(findTemporalBinary(), [
        'workflow', 'signal', '--address', inject('temporalAddress'), '--workflow-id', workflowId, '--name', 'approve',
        '--input', JSON.stringify({ approver: 'bob', via: 'temporal-cli' }),
      ]);
      const report = await handle.result();
      expect(report.approvals.map((a) => `${a.approver}:${a.via}`)).toEqual(['alice:cli', 'bob:temporal-cli']);
      expect(report.details?.actions).toEqual([expect.stringContaining('quer'), expect.stringMatching(/VACUUM \(ANALYZE\) table bookings: dead tuples \d+ -> 0/)]);
    });
  });

  it('maint emergency start requests it with a summary in the UI; maint reject ends it with nothing executed', async () => {
    await withBridge(async ({ client, taskQueue, config }) => {
      const env = { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), TASK_QUEUE: taskQueue, MAINT_CONFIG: config.configFile!, DATABASE_URL: config.databaseUrl };
      const before = replicas();
      const anonymous: NodeJS.ProcessEnv = { ...env };
      delete anonymous.USER;
      delete anonymous.MAINT_APPROVER;
      const nobody = await exec(process.execPath, ['bin/maint.js', 'emergency', 'start', '--reason', 'runaway batch job', '--severity', 'critical',
        '--action', 'scale-deployment deployment=trixtech-backend replicas=5'], { env: anonymous }).catch((e: { code: number; stderr: string }) => e);
      expect(nobody).toMatchObject({ code: 1, stderr: 'maint: say who you are: --requested-by <name> (or set MAINT_APPROVER)\n' });
      const started = await exec(process.execPath, ['bin/maint.js', 'emergency', 'start', '--reason', 'runaway batch job', '--severity', 'critical',
        '--action', 'scale-deployment deployment=trixtech-backend replicas=5', '--requested-by', 'alice'], { env });
      const workflowId = /^(emergency-\S+) started; waiting for approval$/m.exec(started.stdout)?.[1];
      expect(workflowId, started.stdout).toBeDefined();
      const handle = client.workflow.getHandle(workflowId!);
      await until('the approval request', () => waitingForApproval(handle));
      const description = await handle.describe();
      expect(await description.staticSummary()).toBe('Emergency (critical) requested by alice: runaway batch job');
      expect(await description.staticDetails()).toContain('trixtech-backend');

      const rejected = await exec(process.execPath, ['bin/maint.js', 'reject', workflowId!, '--as', 'bob', '--reason', 'the job finished'], { env });
      expect(rejected.stdout).toContain('rejection by bob sent');
      const report = await handle.result();
      expect(report.outcome).not.toBe('ok');
      expect(report.approvals).toEqual([expect.objectContaining({ decision: 'reject', approver: 'bob', via: 'cli', comment: 'the job finished' })]);
      expect(replicas()).toBe(before);
    });
  });

  it('fails at once, before asking anyone, on an unknown action kind or a target that does not exist', async () => {
    await withBridge(async ({ client, taskQueue }) => {
      for (const [actions, field] of [
        [[{ kind: 'format-disk', device: '/dev/sda' }], 'actions.0.kind'],
        [[{ kind: 'drain-node', node: 'worker-1' }, { kind: 'drain-node', node: 'worker-9' }], 'actions.1: node worker-9 does not exist'],
        [[{ kind: 'rollback-deployment', deployment: 'payments', revision: 3 }], 'actions.0: deployment default/payments does not exist'],
        [[{ kind: 'vacuum-table', table: 'no_such_table' }], 'actions.0: table no_such_table does not exist'],
        [[{ kind: 'vacuum-table', table: 'bookings; DROP TABLE bookings' }], 'actions.0.table'],
      ] as const) {
        const workflowId = id('emergency-bad');
        const err = await client.workflow.execute('emergencyMaintenance', { taskQueue, workflowId, args: [request(actions as never)] }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        let cause = (err as WorkflowFailedError).cause as ApplicationFailure | undefined;
        while (cause?.cause) cause = cause.cause as ApplicationFailure;
        expect(cause?.message).toContain(field);
        expect(slack.posts.some((p) => JSON.stringify(p.body).includes(workflowId) && p.body.text?.includes('needs approval'))).toBe(false);
      }
      expect((k8s.get('', 'nodes', undefined, 'worker-1') as { spec: { unschedulable?: boolean } }).spec.unschedulable).toBeFalsy();
    });
  });
});
