import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTemporalBinary } from '../dev/devserver.js';
import type { EmergencyInput } from '../domain/emergency.js';
import { emergencyMaintenance } from '../workflows/emergency-maintenance.js';
import { statusQuery } from '../workflows/lib/definitions.js';
import { expectRbacExact, QUICK_PODS, serveLogs, waitForDeployment, type TestCluster } from './helpers/cluster.js';
import { recordHistory } from './helpers/histories.js';
import { signedRequest } from './helpers/keys.js';
import type { TestDatabase } from './helpers/postgres.js';
import type { SlackSink } from './helpers/slack-sink.js';
import { commandBody, interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { SIGNING_SECRET, startStack, uniqueId, until, type Stack } from './helpers/stack.js';
import { temporalEnv, temporalCliArgs } from './helpers/temporal.js';

const exec = promisify(execFile);
const SECRET = SIGNING_SECRET;
const id = uniqueId;

describe('emergency maintenance behind signed approvals (Slack bridge, maint, plain temporal CLI)', () => {
  let stack: Stack;
  let slack: SlackSink;
  let kube: TestCluster;
  let nodes: string[];
  let db: TestDatabase;
  let withBridge: Stack['withBridge'];

  beforeAll(async () => {
    stack = await startStack(
      {
        emergencyMaintenance: { approvers: ['alice', 'bob'], required: 1 },
        slackUsers: { UALICE: 'alice', UBOB: 'bob', UMALLORY: 'mallory' },
      },
      { name: 'approvals-emergency' },
    );
    ({ slack, kube, db, withBridge } = stack);
    nodes = await kube.addNodes(2);
    await kube.deploy('trixtech-backend', { replicas: 2, podAnnotations: QUICK_PODS });
    await waitForDeployment(kube, 'trixtech-backend');
    // Clean application logs, read through kwok: the health check after the work finds no error lines.
    await serveLogs(kube, ['started', 'GET /healthz 200']);
    await db.pool.query(
      'CREATE TABLE bookings (id int PRIMARY KEY); INSERT INTO bookings SELECT generate_series(1, 2000); DELETE FROM bookings WHERE id % 2 = 0',
    );
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
  });

  /** A request by alice, signed with her key for `workflowId`. */
  const request = (
    workflowId: string,
    actions: EmergencyInput['actions'],
    extra: Partial<EmergencyInput> = {},
  ): EmergencyInput =>
    signedRequest(stack.keys.key('alice'), workflowId, {
      reason: 'backend leaking memory',
      severity: 'high',
      requestedBy: 'alice',
      actions,
      postMortemDelaySeconds: 1,
      ...extra,
    });
  const waitingForApproval = async (handle: WorkflowHandle) =>
    (await handle.query(statusQuery)).waitingFor?.startsWith('approval') ?? false;
  /** Starts alice's signed request and waits until it asks for approval. */
  const startAwaitingApproval = async (
    client: Client,
    taskQueue: string,
    workflowId: string,
    actions: EmergencyInput['actions'],
  ) => {
    const handle = await client.workflow.start(emergencyMaintenance, {
      taskQueue,
      workflowId,
      args: [request(workflowId, actions)],
    });
    await until('the approval request', () => waitingForApproval(handle));
    return handle;
  };
  const decisionsRecorded = async (handle: WorkflowHandle, n: number) =>
    (await handle.query(statusQuery)).approvals.length >= n;
  const post = (url: string, body: string, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', body, headers });
  const backend = () => kube.apps.readNamespacedDeployment({ name: 'trixtech-backend', namespace: kube.namespace });
  const replicas = async () => (await backend()).spec?.replicas;
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, ...temporalEnv(), MAINT_CONFIG: '', ...extra });

  it('proceeds once a correctly signed Slack button press approves it, and tells the approver; forged, stale and unauthorised presses change nothing', async () => {
    await withBridge(async ({ client, taskQueue, bridgeUrl }) => {
      const workflowId = id('emergency-slack');
      const handle = await startAwaitingApproval(client, taskQueue, workflowId, [
        { kind: 'scale-deployment', namespace: kube.namespace, deployment: 'trixtech-backend', replicas: 4 },
      ]);
      const ask = slack
        .postsTo('/report')
        .find((p) => JSON.stringify(p.body).includes(workflowId) && p.body.text?.includes('needs approval'));
      expect(JSON.stringify(ask?.body.blocks)).toContain(
        `scale deployment ${kube.namespace}/trixtech-backend to 4 replicas`,
      );
      expect(JSON.stringify(ask?.body.blocks)).toContain(
        `plan sha256 \`${(await handle.query(statusQuery)).approval!.planHash.slice(0, 16)}\``,
      );
      expect(JSON.stringify(ask?.body.blocks)).toContain('"action_id":"approve"');

      const url = `${bridgeUrl}/slack/interactions`;
      const body = interactionBody('UBOB', 'approve', workflowId, `${slack.url}/respond/1`);
      expect((await post(url, body, slackHeaders(body, 'not-the-secret'))).status).toBe(401);
      expect((await post(url, body, slackHeaders(body, SECRET, Math.floor(Date.now() / 1000) - 6 * 60))).status).toBe(
        401,
      );
      const mallory = interactionBody('UMALLORY', 'approve', workflowId, `${slack.url}/respond/1`);
      expect((await post(url, mallory, slackHeaders(mallory, SECRET))).status).toBe(403);
      const stranger = interactionBody('USTRANGER', 'approve', workflowId, `${slack.url}/respond/1`);
      expect((await post(url, stranger, slackHeaders(stranger, SECRET))).status).toBe(403);
      // Refused requests never reach the run: nothing recorded, still waiting.
      expect((await handle.query(statusQuery)).approvals).toEqual([]);
      expect(await waitingForApproval(handle)).toBe(true);
      expect(await replicas()).toBe(2);

      expect((await post(url, body, slackHeaders(body, SECRET))).status).toBe(200);
      const report = await handle.result();
      await recordHistory('emergencyMaintenance-signed', await handle.fetchHistory(), workflowId);

      expect(await replicas()).toBe(4);
      expect(report.outcome).toBe('ok');
      expect(report.approvals).toEqual([
        expect.objectContaining({
          decision: 'approve',
          approver: 'bob',
          via: 'slack',
          proof: { signer: 'bridge', key: stack.keys.bridge.fingerprint },
        }),
      ]);
      expect(report.steps.map((s) => s.name)).toEqual(
        expect.arrayContaining([
          'verify the requester',
          'health snapshot',
          'approval',
          `scale deployment ${kube.namespace}/trixtech-backend to 4 replicas`,
          'health check after',
        ]),
      );
      await until('the verdict in Slack', () => slack.postsTo('/respond/1').length > 0);
      expect(slack.postsTo('/respond/1')[0]?.body.text).toBe(
        ':white_check_mark: Approval by bob via slack counted: approve by bob (1 of 1 approval)',
      );
      expect(
        slack.postsTo('/report').some((p) => p.body.text?.includes(`Post-mortem due for emergency ${workflowId}`)),
      ).toBe(true);
      const stored = await db.pool.query<{ outcome: string }>(
        'SELECT outcome FROM maintenance_runs WHERE workflow_id = $1',
        [workflowId],
      );
      expect(stored.rows).toEqual([{ outcome: 'ok' }]);
    });
  });

  it('a rejection through the slash command executes nothing, and its verdict comes back to Slack', async () => {
    await withBridge(async ({ client, taskQueue, bridgeUrl }) => {
      const workflowId = id('emergency-reject');
      const handle = await startAwaitingApproval(client, taskQueue, workflowId, [
        { kind: 'scale-deployment', namespace: kube.namespace, deployment: 'trixtech-backend', replicas: 9 },
      ]);
      const url = `${bridgeUrl}/slack/commands`;
      const noReason = commandBody('UBOB', `reject ${workflowId}`);
      expect((await post(url, noReason, slackHeaders(noReason, SECRET))).status).toBe(400);
      const statusBody = commandBody('UBOB', `status ${workflowId}`);
      const status = await post(url, statusBody, slackHeaders(statusBody, SECRET));
      expect(((await status.json()) as { text: string }).text).toContain('waiting for approval');
      const reject = commandBody('UBOB', `reject ${workflowId} not during the sale`, `${slack.url}/respond/cmd`);
      const res = await post(url, reject, slackHeaders(reject, SECRET));
      expect(res.status).toBe(200);
      expect(((await res.json()) as { text: string }).text).toBe(
        'Rejection by bob received; the verdict follows here.',
      );
      const report = await handle.result();
      expect(report.outcome).toBe('rejected');
      expect(report.summary).toBe('Emergency rejected by bob: not during the sale; nothing was changed');
      expect(report.steps.some((s) => s.name.startsWith('scale deployment'))).toBe(false);
      expect(await replicas()).not.toBe(9);
      await until('the verdict in Slack', () => slack.postsTo('/respond/cmd').length > 0);
      expect(slack.postsTo('/respond/cmd')[0]?.body.text).toBe(
        ':no_entry: Rejection by bob via slash-command: not during the sale counted: reject by bob (0 of 1 approval; rejected by bob)',
      );
    });
  });

  it('escalates, then lapses with nothing changed when nobody decides', async () => {
    await withBridge(async ({ client, taskQueue }) => {
      const workflowId = id('emergency-timeout');
      const report = await client.workflow.execute(emergencyMaintenance, {
        taskQueue,
        workflowId,
        args: [
          request(
            workflowId,
            [{ kind: 'restart-deployment', namespace: kube.namespace, deployment: 'trixtech-backend' }],
            {
              approval: { escalateAfterSeconds: 1, timeoutSeconds: 2.5 },
            },
          ),
        ],
      });
      expect(report.outcome).toBe('timed-out');
      expect(report.summary).toContain('nothing was changed');
      const escalation = slack
        .postsTo('/alert')
        .find((p) => p.body.text?.includes('ESCALATION') && JSON.stringify(p.body).includes(workflowId));
      expect(escalation).toBeDefined();
      const restarted = (await backend()).spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
      expect(restarted).toBeUndefined();
    });
  });

  it("ignores the plain-CLI spoof and a null signal, refuses the requester's own approval, and counts a signed approval sent through `temporal`", async () => {
    await withBridge(async ({ client, taskQueue }) => {
      const workflowId = id('emergency-cli');
      const handle = await startAwaitingApproval(client, taskQueue, workflowId, [
        { kind: 'cancel-runaway-queries', olderThanSeconds: 3600 },
        { kind: 'vacuum-table', table: 'bookings' },
      ]);
      const temporal = (...args: string[]) => exec(findTemporalBinary(), [...args, ...temporalCliArgs()]);
      // Anyone with namespace access can type bob's name; without bob's signature it is only a claim.
      await temporal(
        'workflow',
        'signal',
        '--workflow-id',
        workflowId,
        '--name',
        'approve',
        '--input',
        JSON.stringify({ approver: 'bob', via: 'temporal-cli' }),
      );
      await temporal('workflow', 'signal', '--workflow-id', workflowId, '--name', 'approve', '--input', 'null');
      await until('both signals recorded', () => decisionsRecorded(handle, 2));

      const own = await exec(
        process.execPath,
        [
          'bin/maint.js',
          'approve',
          workflowId,
          '--as',
          'alice',
          '--key',
          stack.keys.keyFile('alice'),
          '--comment',
          'it is on fire',
        ],
        { env: env() },
      ).catch((e: { code: number; stdout: string; stderr: string }) => e);
      expect(own).toMatchObject({
        code: 1,
        stderr: 'maint: approval not counted: the requester cannot approve their own request\n',
      });
      expect((own as { stdout: string }).stdout).toContain('- cancel queries running longer than 3600 s');
      expect(await waitingForApproval(handle)).toBe(true);

      // A key holder can still use the plain temporal CLI: maint prints the signed command.
      const printed = await exec(
        process.execPath,
        ['bin/maint.js', 'approve', workflowId, '--as', 'bob', '--key', stack.keys.keyFile('bob'), '--print'],
        { env: env() },
      );
      expect(printed.stdout).toMatch(
        /^temporal workflow update execute --workflow-id \S+ --run-id \S+ --name decide --input '\{"proof":/,
      );
      const sent = await exec('bash', [
        '-c',
        printed.stdout.trim().replace(/^temporal /, `"${findTemporalBinary()}" ${temporalCliArgs().join(' ')} `),
      ]);
      expect(sent.stdout).toContain('counted');

      const report = await handle.result();
      expect(report.approvals.map((a) => [a.approver, a.via, a.ignored ?? 'counted'])).toEqual([
        ['bob (unverified)', 'temporal-cli', 'no proof: the decision is unsigned'],
        ['unknown (unverified)', undefined, 'no proof: the decision is unsigned'],
        ['alice', 'cli', 'the requester cannot approve their own request'],
        ['bob', 'temporal-cli', 'counted'],
      ]);
      expect(report.details?.actions).toEqual([
        expect.stringContaining('quer'),
        expect.stringMatching(/VACUUM \(ANALYZE\) table bookings: dead tuples \d+ -> 0/),
      ]);
    });
  });

  it('maint emergency start signs the request (or prints it for temporal); an unsigned start is refused; maint reject ends it with nothing executed', async () => {
    await withBridge(async ({ client, taskQueue, config }) => {
      const cli = env({ TASK_QUEUE: taskQueue, MAINT_CONFIG: config.configFile!, DATABASE_URL: config.databaseUrl });
      const before = await replicas();
      const start = [
        'bin/maint.js',
        'emergency',
        'start',
        '--reason',
        'runaway batch job',
        '--severity',
        'critical',
        '--action',
        `scale-deployment namespace=${kube.namespace} deployment=trixtech-backend replicas=5`,
      ];
      const anonymous: NodeJS.ProcessEnv = { ...cli };
      delete anonymous.USER;
      delete anonymous.MAINT_APPROVER;
      const nobody = await exec(process.execPath, start, { env: anonymous }).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(nobody).toMatchObject({
        code: 1,
        stderr: 'maint: say who you are: --as <name> (or set MAINT_APPROVER)\n',
      });
      const keyless = await exec(process.execPath, [...start, '--as', 'alice', '--key', '/nonexistent/key'], {
        env: cli,
      }).catch((e: { code: number; stderr: string }) => e);
      expect(keyless).toMatchObject({
        code: 1,
        stderr:
          'maint: cannot read signing key /nonexistent/key: ENOENT (pass --key <file> or set MAINT_SIGNING_KEY)\n',
      });

      // Unsigned, straight through the SDK: refused before anyone is asked, naming the field.
      const unsignedId = id('emergency-unsigned');
      const err = await client.workflow
        .execute(emergencyMaintenance, {
          taskQueue,
          workflowId: unsignedId,
          args: [
            {
              reason: 'runaway batch job',
              severity: 'critical',
              requestedBy: 'alice',
              actions: [
                { kind: 'scale-deployment', namespace: kube.namespace, deployment: 'trixtech-backend', replicas: 5 },
              ],
            },
          ],
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(((err as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(
        /^Invalid input for emergencyMaintenance: requestProof: no proof: the decision is unsigned\. Sign the request/,
      );
      expect(
        slack.posts.some((p) => JSON.stringify(p.body).includes(unsignedId) && p.body.text?.includes('needs approval')),
      ).toBe(false);

      // Signed by alice's key but claiming to be bob: refused.
      const impostor = await exec(process.execPath, [...start, '--as', 'bob', '--key', stack.keys.keyFile('alice')], {
        env: cli,
      });
      const impostorId = /^(emergency-\S+) started/m.exec(impostor.stdout)![1]!;
      const refused = await client.workflow
        .getHandle(impostorId)
        .result()
        .catch((e: unknown) => e);
      expect(((refused as WorkflowFailedError).cause as ApplicationFailure).message).toContain(
        `requestProof: key ${stack.keys.key('alice').fingerprint} belongs to alice, not bob`,
      );

      const printed = await exec(
        process.execPath,
        [...start, '--as', 'alice', '--key', stack.keys.keyFile('alice'), '--print'],
        { env: cli },
      );
      expect(printed.stdout).toMatch(
        new RegExp(
          `^temporal workflow start --type emergencyMaintenance --task-queue ${taskQueue} --workflow-id emergency-\\S+ --input '\\{`,
        ),
      );
      await exec('bash', [
        '-c',
        printed.stdout.trim().replace(/^temporal /, `"${findTemporalBinary()}" ${temporalCliArgs().join(' ')} `),
      ]);
      const printedId = /--workflow-id (\S+)/.exec(printed.stdout)![1]!;
      await until('the printed request waiting', () => waitingForApproval(client.workflow.getHandle(printedId)));
      expect((await client.workflow.getHandle(printedId).query(statusQuery)).approval?.requester).toBe('alice');
      await client.workflow.getHandle(printedId).terminate('test done');

      const started = await exec(process.execPath, [...start, '--as', 'alice', '--key', stack.keys.keyFile('alice')], {
        env: cli,
      });
      const workflowId = /^(emergency-\S+) started; waiting for approval$/m.exec(started.stdout)?.[1];
      expect(workflowId, started.stdout).toBeDefined();
      const handle = client.workflow.getHandle(workflowId!);
      await until('the approval request', () => waitingForApproval(handle));
      const description = await handle.describe();
      expect(await description.staticSummary()).toBe('Emergency (critical) requested by alice: runaway batch job');
      expect(await description.staticDetails()).toContain('trixtech-backend');

      const rejected = await exec(
        process.execPath,
        [
          'bin/maint.js',
          'reject',
          workflowId!,
          '--as',
          'bob',
          '--key',
          stack.keys.keyFile('bob'),
          '--reason',
          'the job finished',
        ],
        { env: cli },
      );
      expect(rejected.stdout).toContain(`${workflowId}: counted: reject by bob (0 of 1 approval; rejected by bob)`);
      const report = await handle.result();
      expect(report.outcome).toBe('rejected');
      expect(report.approvals).toEqual([
        expect.objectContaining({
          decision: 'reject',
          approver: 'bob',
          via: 'cli',
          comment: 'the job finished',
          proof: { signer: 'operator', key: stack.keys.key('bob').fingerprint },
        }),
      ]);
      expect(await replicas()).toBe(before);
    });
  });

  it('fails at once, before asking anyone, on an unknown action kind or a target that does not exist', async () => {
    await withBridge(async ({ client, taskQueue }) => {
      for (const [actions, field] of [
        [[{ kind: 'format-disk', device: '/dev/sda' }], 'actions.0.kind'],
        [
          [
            { kind: 'drain-node', node: nodes[0]! },
            { kind: 'drain-node', node: `${kube.namespace}-absent` },
          ],
          `actions.1: node ${kube.namespace}-absent does not exist`,
        ],
        [
          [{ kind: 'rollback-deployment', namespace: kube.namespace, deployment: 'payments', revision: 3 }],
          `actions.0: deployment ${kube.namespace}/payments does not exist`,
        ],
        [[{ kind: 'vacuum-table', table: 'no_such_table' }], 'actions.0: table no_such_table does not exist'],
        [[{ kind: 'vacuum-table', table: 'bookings; DROP TABLE bookings' }], 'actions.0.table'],
      ] as const) {
        const workflowId = id('emergency-bad');
        const input = { reason: 'backend leaking memory', severity: 'high', requestedBy: 'alice', actions };
        const err = await client.workflow
          .execute('emergencyMaintenance', { taskQueue, workflowId, args: [input] })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        let cause = (err as WorkflowFailedError).cause as ApplicationFailure | undefined;
        while (cause?.cause) cause = cause.cause as ApplicationFailure;
        expect(cause?.message).toContain(field);
        expect(
          slack.posts.some(
            (p) => JSON.stringify(p.body).includes(workflowId) && p.body.text?.includes('needs approval'),
          ),
        ).toBe(false);
      }
      expect((await kube.core.readNode({ name: nodes[0]! })).spec?.unschedulable).toBeFalsy();
    });
  });
});
