import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planHash } from '../domain/approval-proof.js';
import type { EmergencyInput } from '../domain/emergency.js';
import { emergencyPlan } from '../domain/emergency.js';
import { generateSigningKey, parsePrivateKey } from '../src/signing.js';
import { emergencyMaintenance } from '../workflows/emergency-maintenance.js';
import { rejectSignal, statusQuery } from '../workflows/lib/definitions.js';
import { expectRbacExact, QUICK_PODS, serveLogs, waitForDeployment } from './helpers/cluster.js';
import { alicesBackendScaling, decide, signedDecision } from './helpers/keys.js';
import { startStack, uniqueId, until, type Stack } from './helpers/stack.js';

// Every way around the approval gate we could think of, each against a real run on the dev server:
// the verdict comes back to the caller with its reason, the run records it, and nothing executes
// until a valid decision arrives.
describe('signed approvals: what does not count, and why', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack(
      { emergencyMaintenance: { approvers: ['alice', 'bob'], required: 1 } },
      { name: 'approvals-proofs', people: ['mallory'] },
    );
    await stack.kube.addNodes(1);
    await stack.kube.deploy('trixtech-backend', { replicas: 2, podAnnotations: QUICK_PODS });
    await waitForDeployment(stack.kube, 'trixtech-backend');
    // Clean application logs, read through kwok: the health check after the work finds no error lines.
    await serveLogs(stack.kube, ['started', 'GET /healthz 200']);
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
  });

  const replicas = async () =>
    (await stack.kube.apps.readNamespacedDeployment({ name: 'trixtech-backend', namespace: stack.kube.namespace })).spec
      ?.replicas;
  const start = async (
    client: Client,
    taskQueue: string,
    replicasWanted: number,
    extra: Partial<EmergencyInput> = {},
  ) => {
    const workflowId = uniqueId('emergency-proofs');
    const handle = await client.workflow.start(emergencyMaintenance, {
      taskQueue,
      workflowId,
      args: [
        alicesBackendScaling(stack.keys.key('alice'), workflowId, stack.kube.namespace, replicasWanted, {
          reason: 'connection storm',
          ...extra,
        }),
      ],
    });
    await until('the approval request', async () => (await handle.query(statusQuery)).approval?.open ?? false);
    return handle;
  };

  it('ignores forged, foreign, stale, replayed and unauthorised decisions with their reasons; then a valid one counts', async () => {
    await stack.withBridge(async ({ client, taskQueue }) => {
      const other = await start(client, taskQueue, 6);
      const handle = await start(client, taskQueue, 5);
      const { workflowId } = handle;
      const bob = stack.keys.key('bob');
      const valid = (await signedDecision(client, workflowId, bob, { principal: 'bob', comment: 'go' })).proof;
      const verdicts: Record<string, unknown> = {};
      const attempt = async (name: string, proof: unknown) => {
        verdicts[name] = await decide(client, workflowId, proof);
      };

      await attempt('unsigned', undefined);
      await attempt('malformed', { statement: 'not base64!', signature: 42 });
      // bob's statement with the signature of another statement: forged.
      const otherStatement = (
        await signedDecision(client, workflowId, bob, { principal: 'bob', comment: 'other words' })
      ).proof;
      await attempt('forged signature', { ...valid, signature: otherStatement.signature });
      // mallory signs "bob approves" with her own key and names bob's key.
      const mallorys = (await signedDecision(client, workflowId, stack.keys.key('mallory'), { principal: 'bob' }))
        .proof;
      await attempt('key of another', { ...mallorys, key: bob.fingerprint });
      await attempt('signing as someone else', mallorys);
      const retired = parsePrivateKey(generateSigningKey('bob-old-laptop').privateKey);
      await attempt('unknown key', (await signedDecision(client, workflowId, retired, { principal: 'bob' })).proof);
      await attempt('other run', (await signedDecision(client, other.workflowId, bob, { principal: 'bob' })).proof);
      await attempt(
        'other plan',
        (
          await signedDecision(client, workflowId, bob, {
            principal: 'bob',
            planHash: planHash(
              emergencyPlan([
                { kind: 'scale-deployment', namespace: 'default', deployment: 'trixtech-backend', replicas: 0 },
              ]),
            ),
          })
        ).proof,
      );
      await attempt(
        'expired',
        (
          await signedDecision(
            client,
            workflowId,
            bob,
            { principal: 'bob' },
            { validForMs: 60_000, now: new Date(Date.now() - 10 * 60_000) },
          )
        ).proof,
      );
      await attempt(
        'from the future',
        (await signedDecision(client, workflowId, bob, { principal: 'bob' }, { now: new Date(Date.now() + 3_600_000) }))
          .proof,
      );
      await attempt(
        'the bridge for the CLI',
        (await signedDecision(client, workflowId, stack.keys.bridge, { principal: 'bob', via: 'cli' })).proof,
      );
      await attempt(
        'not an approver',
        (await signedDecision(client, workflowId, stack.keys.key('mallory'), { principal: 'mallory' })).proof,
      );
      const once = (await signedDecision(client, workflowId, stack.keys.key('mallory'), { principal: 'mallory' }))
        .proof;
      await attempt('first use', once);
      await attempt('second use', once);
      await attempt(
        'the requester',
        (await signedDecision(client, workflowId, stack.keys.key('alice'), { principal: 'alice' })).proof,
      );
      // A signed "approve" sent as the reject signal: the signal's name cannot turn it around.
      await handle.signal(rejectSignal, { proof: valid });
      // Too big to enter history at all: refused by the validator, the caller told why.
      const huge = await decide(client, workflowId, { statement: 'A'.repeat(20_000), signature: 'x', key: 'y' }).catch(
        (e: unknown) => e,
      );
      expect(huge).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(((huge as WorkflowUpdateFailedError).cause as Error).message).toMatch(
        /^decision refused: \d+ bytes, more than 8192$/,
      );

      const reason = (name: string) => verdicts[name] as { verdict: string; reason: string };
      expect(reason('unsigned')).toEqual({
        verdict: 'ignored',
        reason: 'no proof: the decision is unsigned',
        progress: '0 of 1 approval',
      });
      expect(reason('malformed').reason).toMatch(
        /^malformed proof: statement: expected base64url; signature: .*; key: /,
      );
      expect(reason('forged signature').reason).toBe('bad signature');
      expect(reason('key of another').reason).toBe('bad signature');
      expect(reason('signing as someone else').reason).toBe(
        `key ${stack.keys.key('mallory').fingerprint} belongs to mallory, not bob`,
      );
      expect(reason('unknown key').reason).toBe(`unknown or revoked key ${retired.fingerprint}`);
      expect(reason('other run').reason).toBe(`for another run (workflow ${other.workflowId})`);
      expect(reason('other plan').reason).toBe(
        'for another plan (it changed after it was signed, or was never this one)',
      );
      expect(reason('expired').reason).toMatch(/^expired at /);
      expect(reason('from the future').reason).toMatch(/^issued in the future/);
      expect(reason('the bridge for the CLI').reason).toBe("the bridge's key signs Slack decisions only, not cli");
      expect(reason('not an approver').reason).toBe('not an approver (allowed: alice, bob)');
      expect(reason('first use').reason).toBe('not an approver (allowed: alice, bob)');
      expect(reason('second use').reason).toBe('replayed: this statement was already presented');
      expect(reason('the requester').reason).toBe('the requester cannot approve their own request');

      await until('the reject signal recorded', async () => (await handle.query(statusQuery)).approvals.length === 16);
      const status = await handle.query(statusQuery);
      expect(status.approvals.at(-1)).toMatchObject({
        approver: 'bob',
        decision: 'approve',
        ignored: 'signed as approve, sent as reject',
      });
      expect(status.approvals.every((a) => a.ignored)).toBe(true);
      // Unproven claims are kept for the audit, marked as such.
      expect(
        status.approvals.find((a) =>
          a.ignored?.startsWith(`key ${stack.keys.key('mallory').fingerprint} belongs to mallory`),
        )?.approver,
      ).toBe('bob (unverified)');
      expect(status.waitingFor).toMatch(/^approval by an approver/);
      expect(await replicas()).toBe(2);

      expect(await decide(client, workflowId, valid)).toEqual({
        verdict: 'counted',
        decision: 'approve',
        principal: 'bob',
        progress: '1 of 1 approval',
      });
      const report = await handle.result();
      expect(report.outcome).toBe('ok');
      expect(await replicas()).toBe(5);
      expect(report.approvals.filter((a) => !a.ignored).map((a) => a.approver)).toEqual(['bob']);
      expect(report.approvals.filter((a) => a.ignored)).toHaveLength(16);
      await other.terminate('test done');
    });
  });

  it('a decision once the gate has closed is ignored as late; one for a finished run fails for the caller', async () => {
    await stack.withBridge(async ({ client, taskQueue }) => {
      const handle: WorkflowHandle = await start(client, taskQueue, 3, { postMortemDelaySeconds: 3600 });
      const bob = stack.keys.key('bob');
      const first = (await signedDecision(client, handle.workflowId, bob, { principal: 'bob' })).proof;
      const second = (
        await signedDecision(client, handle.workflowId, bob, {
          principal: 'bob',
          decision: 'reject',
          comment: 'changed my mind',
        })
      ).proof;
      expect(await decide(client, handle.workflowId, first)).toMatchObject({ verdict: 'counted' });
      await until(
        'the post-mortem wait',
        async () => (await handle.query(statusQuery)).phase === 'awaiting post-mortem',
      );
      expect(await replicas()).toBe(3);
      expect(await decide(client, handle.workflowId, second)).toEqual({
        verdict: 'ignored',
        reason: 'the approval gate is closed: the request was already approved',
        progress: '1 of 1 approval',
      });
      await handle.terminate('test done');
      const finished = await decide(client, handle.workflowId, second).catch((e: unknown) => e);
      expect((finished as Error).message).toMatch(/workflow execution already completed/i);
    });
  });
});
