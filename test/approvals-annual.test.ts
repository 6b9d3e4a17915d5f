import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPgBinary } from '../activities/postgres/backup.js';
import type { AnnualUpgradeInput } from '../workflows/annual-upgrade.js';
import { annualUpgrade } from '../workflows/annual-upgrade.js';
import { databaseUpgradedSignal, statusQuery } from '../workflows/lib/definitions.js';
import { blackoutFromNow } from './helpers/bookings.js';
import { expectRbacExact } from './helpers/cluster.js';
import { annualCluster, poolSelector, storeAnnualPlan, testPaceAnnualOptions } from './helpers/annual-plan.js';
import { recordHistory } from './helpers/histories.js';
import { decide, signedDecision } from './helpers/keys.js';
import { startUpdateHook } from './helpers/kube.js';
import { interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { SIGNING_SECRET, startStack, uniqueId, until, type Stack } from './helpers/stack.js';
import { temporalEnv } from './helpers/temporal.js';
import { openWindow, openWindowRefusal } from './helpers/window.js';

const exec = promisify(execFile);
const backendImage = async (stack: Stack) =>
  (await stack.kube.apps.readNamespacedDeployment({ name: 'trixtech-backend', namespace: stack.kube.namespace })).spec
    ?.template.spec?.containers[0]?.image;
/** A window an hour away: nobody waits for it; the test opens it (`openWindow`) when it is ready. */
const farWindow = () => ({ windowStart: new Date(Date.now() + 3_600_000).toISOString(), windowDuration: '1 hour' });
/** The backend upgrade every plan here makes. */
const BACKEND_TO_2 = { deployment: 'trixtech-backend', container: 'app', image: 'trixtech/backend:2.0.0' };
// Nothing here races a clock; this bound only catches a hang (each test spawns CLIs and a bridge, slow on a busy machine).
const SLOW_MACHINE_MS = 240_000;
const waitingForWindow = (handle: WorkflowHandle) =>
  until('the wait for the window', async () => (await handle.query(statusQuery)).phase === 'waiting for the window');
/** Starts an annual upgrade and returns once it asks for approval. */
async function startAwaitingApproval(client: Client, taskQueue: string, workflowId: string, input: AnnualUpgradeInput) {
  const handle = await client.workflow.start(annualUpgrade, { taskQueue, workflowId, args: [input] });
  await until(
    'the approval request',
    async () => (await handle.query(statusQuery)).waitingFor?.startsWith('approval') ?? false,
  );
  return handle;
}
/** A signed Slack click on the bridge; returns the HTTP status the bridge answered. */
async function clickSlack(bridgeUrl: string, user: string, workflowId: string, responseUrl: string) {
  const body = interactionBody(user, 'approve', workflowId, responseUrl);
  const res = await fetch(`${bridgeUrl}/slack/interactions`, {
    method: 'POST',
    body,
    headers: slackHeaders(body, SIGNING_SECRET),
  });
  return res.status;
}
/** carol and dave approve with their own keys, as `maint approve` does; then the run waits for its window. */
async function approveByTwo(stack: Stack, client: Client, handle: WorkflowHandle) {
  for (const approver of ['carol', 'dave']) {
    const { proof } = await signedDecision(client, handle.workflowId, stack.keys.key(approver), {
      principal: approver,
      via: 'temporal-cli',
    });
    expect(await decide(client, handle.workflowId, proof)).toMatchObject({ verdict: 'counted' });
  }
  await waitingForWindow(handle);
}

describe('annualUpgrade: two-person approval before the window, then the upgrade inside it', () => {
  let stack: Stack;
  let hook: Awaited<ReturnType<typeof startUpdateHook>>;

  beforeAll(async () => {
    stack = await startStack(
      {
        annualUpgrade: { approvers: ['carol', 'dave', 'erin'], required: 2 },
        slackUsers: { UCAROL: 'carol', UDAVE: 'dave' },
      },
      { name: 'annual' },
    );
    // Nodes start on the control plane's version; the update hook brings them to the next.
    [nodeA, nodeB] = (await annualCluster(stack, 2)) as [string, string];
    hook = await startUpdateHook(stack.kube.admin, 50, 'v1.35.0');
  });
  afterAll(async () => {
    await hook?.close();
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
  });

  let nodeA = '';
  let nodeB = '';
  const image = () => backendImage(stack);
  const kubelet = async (node: string) =>
    (await stack.kube.core.readNode({ name: node })).status?.nodeInfo?.kubeletVersion;
  /** A window an hour away whose stored plan updates this file's nodes and upgrades the backend. */
  const input = async (): Promise<AnnualUpgradeInput> => {
    const window = farWindow();
    await storeAnnualPlan(
      stack,
      window.windowStart,
      { nodes: { selector: poolSelector(stack) }, applications: [BACKEND_TO_2] },
      'erin',
    );
    return { ...window, ...options() };
  };
  const options = (): AnnualUpgradeInput => ({
    ...testPaceAnnualOptions(hook.url, { description: 'pg_upgrade 15 -> 16 on the primary', timeout: '20s' }),
    // A status update every second while the window's work runs.
    statusUpdateEvery: '1s',
  });
  const approvals = async (handle: WorkflowHandle) => (await handle.query(statusQuery)).approvals;

  it(
    'one person is one approval, whatever the path or key: with one when the window opens, nothing runs',
    async () => {
      await stack.withBridge(async ({ client, taskQueue, bridgeUrl }) => {
        const workflowId = uniqueId('annual-one');
        const handle = await startAwaitingApproval(client, taskQueue, workflowId, await input());
        const env = { ...process.env, ...temporalEnv(), MAINT_CONFIG: '' };
        const first = await exec(
          process.execPath,
          ['bin/maint.js', 'approve', workflowId, '--as', 'carol', '--key', stack.keys.keyFile('carol')],
          { env },
        );
        expect(first.stdout).toContain(`${workflowId}: counted: approve by carol (1 of 2 approvals)`);
        expect(first.stdout).toContain('window: ');
        // carol again through Slack (the bridge's key): still one person.
        expect(await clickSlack(bridgeUrl, 'UCAROL', workflowId, `${stack.slack.url}/respond/annual-one`)).toBe(200);
        await until('the Slack verdict', () => stack.slack.postsTo('/respond/annual-one').length > 0);
        expect(stack.slack.postsTo('/respond/annual-one')[0]?.body.text).toBe(
          ':warning: Approval by carol via slack ignored: already counted: the same person counts once (1 of 2 approvals)',
        );
        // The same signed statement presented twice: the second time is a replay.
        const { proof } = await signedDecision(client, workflowId, stack.keys.key('carol'), { principal: 'carol' });
        expect(await decide(client, workflowId, proof)).toMatchObject({
          verdict: 'ignored',
          reason: 'already counted: the same person counts once',
        });
        expect(await decide(client, workflowId, proof)).toMatchObject({
          verdict: 'ignored',
          reason: 'replayed: this statement was already presented',
        });
        expect((await approvals(handle)).map((a) => a.ignored ?? 'counted')).toEqual([
          'counted',
          'already counted: the same person counts once',
          'already counted: the same person counts once',
          'replayed: this statement was already presented',
        ]);
        // The people running the window open it: the approval closes with one of two.
        await openWindow(handle);

        const report = await handle.result();
        expect(report.outcome).toBe('skipped');
        expect(report.summary).toContain('approved by 1 of the 2 required');
        expect(await image()).toBe('trixtech/backend:1.0.0');
        expect(await kubelet(nodeA)).toBe('v1.34.2');
        expect(hook.requests).toEqual([]);
        expect(
          stack.slack
            .postsTo('/alert')
            .some((p) => p.body.text?.includes('ESCALATION') && JSON.stringify(p.body).includes(workflowId)),
        ).toBe(true);
      });
    },
    SLOW_MACHINE_MS,
  );

  it(
    'with two distinct approvers it updates the nodes and the application, waits for the database step, and checks health',
    async () => {
      await stack.withBridge(async ({ client, taskQueue, bridgeUrl }) => {
        const workflowId = uniqueId('annual-two');
        const args = await input();
        const handle = await startAwaitingApproval(client, taskQueue, workflowId, args);
        for (const user of ['UCAROL', 'UDAVE'])
          expect(await clickSlack(bridgeUrl, user, workflowId, `${stack.slack.url}/respond/annual`)).toBe(200);
        await waitingForWindow(handle);
        // Bad input and a second opening are refused and change nothing.
        expect(await openWindowRefusal(handle, { by: ' ' })).toMatch(/^openWindow refused: by: /);
        expect((await handle.query(statusQuery)).phase).toBe('waiting for the window');
        await openWindow(handle);
        expect(await openWindowRefusal(handle, { by: 'someone-else' })).toMatch(
          /^openWindow refused: already opened by test-operator at /,
        );
        await until(
          'the database checkpoint',
          async () => (await handle.query(statusQuery)).waitingFor?.startsWith('signal databaseUpgraded') ?? false,
          90_000,
        );
        // While people do the database step, the window's status keeps coming.
        const statusPosts = () =>
          stack.slack
            .postsTo('/report')
            .filter((p) => String(p.body.text).startsWith(`:hourglass_flowing_sand: annualUpgrade ${workflowId} `));
        const atCheckpoint = () =>
          statusPosts().filter((p) =>
            String(p.body.text).includes('running: database major-version upgrade (human checkpoint)'),
          );
        await until('a status update at the database checkpoint', () => atCheckpoint().length > 0);
        expect(atCheckpoint()[0]!.body.text).toMatch(
          new RegExp(
            `^:hourglass_flowing_sand: annualUpgrade ${workflowId} in window annual \\(until \\S+\\), in the window: ` +
              'done: fresh backup verified readable \\(ok\\), monitoring alive \\(\\w+\\), monitoring alerts configured \\(\\w+\\), ' +
              'record the revision of trixtech-backend \\(ok\\), rolling node updates \\(ok\\), upgrade trixtech-backend to trixtech/backend:2\\.0\\.0 \\(ok\\); ' +
              'running: database major-version upgrade \\(human checkpoint\\); remaining: post-maintenance health check, monitoring alerts cleared$',
          ),
        );
        // The nodes and the application are done before the people's database step.
        expect(await image()).toBe('trixtech/backend:2.0.0');
        expect([await kubelet(nodeA), await kubelet(nodeB)]).toEqual(['v1.35.0', 'v1.35.0']);
        await handle.signal(databaseUpgradedSignal, { by: 'erin', detail: 'pg 16.4 running' });
        const report = await handle.result();
        await recordHistory('annualUpgrade-stored-plan-opened-early', await handle.fetchHistory(), workflowId);
        // Since 'window-silences': the silences its children take end with the window at the latest.
        const childInput = async (id: string) => {
          const { events } = await client.workflow.getHandle(id).fetchHistory();
          const payload = events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
          return defaultPayloadConverter.fromPayload<{ alerts?: object; node?: { alerts?: object } }>(payload);
        };
        const windowEnd = new Date(Date.parse(args.windowStart!) + 3_600_000).toISOString();
        expect((await childInput(`${workflowId}/app-trixtech-backend`)).alerts).toMatchObject({
          silenceUntil: windowEnd,
        });
        expect((await childInput(`${workflowId}/nodes`)).node?.alerts).toMatchObject({ silenceUntil: windowEnd });

        expect(['ok', 'warn']).toContain(report.outcome);
        expect(report.checks.find((c) => c.check === 'window.status-updates')).toMatchObject({
          status: 'ok',
          value: statusPosts().length,
        });
        expect(report.window).toMatchObject({ name: 'annual' });
        expect(report.approvals.filter((a) => !a.ignored).map((a) => a.approver)).toEqual(['carol', 'dave']);
        expect(report.approvals.map((a) => a.proof?.signer)).toEqual(['bridge', 'bridge']);
        await until('both Slack verdicts', () => stack.slack.postsTo('/respond/annual').length === 2);
        expect(
          stack.slack
            .postsTo('/respond/annual')
            .map((p) => p.body.text)
            .sort(),
        ).toEqual([
          ':white_check_mark: Approval by carol via slack counted: approve by carol (1 of 2 approvals)',
          ':white_check_mark: Approval by dave via slack counted: approve by dave (2 of 2 approvals)',
        ]);
        expect(hook.requests).toEqual([nodeA, nodeB].sort());
        expect(report.steps.map((s) => s.name)).toEqual(
          expect.arrayContaining([
            'wait for the window',
            'fresh backup verified readable',
            'monitoring alive',
            'record the revision of trixtech-backend',
            'rolling node updates',
            'upgrade trixtech-backend to trixtech/backend:2.0.0',
            'database major-version upgrade (human checkpoint)',
            'post-maintenance health check',
          ]),
        );
        expect(report.steps.find((s) => s.name === 'wait for the window')?.detail).toMatch(
          /^opened early by test-operator at \S+ \(the test opens it\); scheduled /,
        );
        expect((report.details?.recordedRevisions as { revision: string }[])[0]?.revision).toBe('1');
        // The gate took its own dump and read every byte back; the report names file, checksum and level.
        const taken = report.details?.preMaintenanceBackup as { file: string; sha256: string; level: string };
        expect(taken).toMatchObject({ level: 'readable', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
        expect(taken.file).not.toBe(stack.backupFile);
        expect(report.checks.find((c) => c.check === 'backup')).toMatchObject({
          status: 'ok',
          target: taken.file,
          detail: expect.stringMatching(/^level readable: .*sha256 [0-9a-f]{12}/),
        });
      });
    },
    SLOW_MACHINE_MS,
  );
});

describe('annualUpgrade pre-maintenance gate: a backup must read back', () => {
  let stack: Stack;
  let pgBinDir: string;

  beforeAll(async () => {
    // A pg_dump that "succeeds" writing the 6-byte file the old gate accepted; pg_restore is the real one.
    pgBinDir = mkdtempSync(join(tmpdir(), 'maint-six-byte-pgdump-'));
    writeFileSync(
      join(pgBinDir, 'pg_dump'),
      '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = "-f" ] && printf backup > "$2"; shift; done\nexit 0\n',
    );
    chmodSync(join(pgBinDir, 'pg_dump'), 0o755);
    symlinkSync(findPgBinary('pg_restore'), join(pgBinDir, 'pg_restore'));
    stack = await startStack(
      { annualUpgrade: { approvers: ['carol', 'dave'], required: 2 } },
      { name: 'annual-gate', file: { database: { pgBinDir } } },
    );
    await annualCluster(stack, 1);
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
  });

  it(
    'stops the window before anything disruptive when the fresh dump is a 6-byte file',
    async () => {
      await stack.withBridge(async ({ client, taskQueue }) => {
        const workflowId = uniqueId('annual-six-bytes');
        const window = farWindow();
        await storeAnnualPlan(stack, window.windowStart, { nodes: 'none', applications: [BACKEND_TO_2] }, 'carol');
        const handle = await startAwaitingApproval(client, taskQueue, workflowId, window);
        await approveByTwo(stack, client, handle);
        await openWindow(handle);
        const err = await handle.result().then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err).toBeDefined();
        const status = await handle.query(statusQuery);
        const gate = status.steps.find((s) => s.name === 'fresh backup verified readable');
        expect(gate).toMatchObject({ outcome: 'critical' });
        const description = await handle.describe();
        expect(description.status.name).toBe('FAILED');
        const sixBytes = readdirSync(stack.backupDir)
          .filter((f) => f.endsWith('.dump'))
          .map((f) => join(stack.backupDir, f))
          .filter((f) => statSync(f).size === 6);
        expect(sixBytes).toHaveLength(1);
        expect(status.steps.map((s) => s.name)).not.toContain('record the revision of trixtech-backend');
        expect(await backendImage(stack)).toBe('trixtech/backend:1.0.0');
        // Not the escalation (sent at once when the approvals come after the first workflow task): the checklist's alert.
        const alert = stack.slack
          .postsTo('/alert')
          .find((p) => JSON.stringify(p.body).includes(workflowId) && !p.body.text?.includes('ESCALATION'));
        expect(JSON.stringify(alert?.body)).toMatch(
          /pre-maintenance checklist failed, nothing was changed: backup: level intact \(required readable\): .* is not readable: pg_restore/,
        );
      });
    },
    SLOW_MACHINE_MS,
  );
});

describe('annualUpgrade under a blackout', () => {
  let stack: Stack;

  beforeAll(async () => {
    const freeze = blackoutFromNow('year-end-sale', -60, 2 * 3600, 'sale freeze');
    stack = await startStack(
      { annualUpgrade: { approvers: ['carol', 'dave'], required: 2 } },
      { name: 'annual-blackout', file: { blackouts: [freeze] } },
    );
    await annualCluster(stack, 1);
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
  });

  it(
    'does nothing, even approved by two, when a configured blackout covers the window',
    async () => {
      await stack.withBridge(async ({ client, taskQueue }) => {
        const workflowId = uniqueId('annual-blackout');
        const window = farWindow();
        await storeAnnualPlan(
          stack,
          window.windowStart,
          { nodes: { selector: poolSelector(stack) }, applications: [BACKEND_TO_2] },
          'carol',
        );
        const handle = await startAwaitingApproval(client, taskQueue, workflowId, window);
        await approveByTwo(stack, client, handle);
        await openWindow(handle);
        const report = await handle.result();
        await recordHistory('annualUpgrade-stored-plan-blackout', await handle.fetchHistory(), workflowId);

        expect(report.outcome).toBe('skipped');
        expect(report.summary).toContain('blackout year-end-sale');
        expect(report.summary).toContain('sale freeze) covers the window; nothing was changed');
        expect(report.steps.map((s) => s.name)).not.toContain('record the revision of trixtech-backend');
        expect(await backendImage(stack)).toBe('trixtech/backend:1.0.0');
      });
    },
    SLOW_MACHINE_MS,
  );
});
