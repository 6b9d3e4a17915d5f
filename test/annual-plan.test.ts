// The annual upgrade plan as reviewed data (issue 20): stored and amended with `maint plan annual`,
// checked against the real control plane before anything is stored, approved as the revision it is
// (its lines and hash in what approvers sign), read again when the window opens, its nodes chosen
// then. The window's monitoring checks run against a real Alertmanager and Prometheus.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planHash } from '../domain/approval-proof.js';
import type { AnnualPlan } from '../domain/annual-plan.js';
import { currentAnnualPlan } from '../src/annual-plans.js';
import { annualUpgrade, type AnnualUpgradeInput } from '../workflows/annual-upgrade.js';
import { databaseUpgradedSignal, statusQuery } from '../workflows/lib/definitions.js';
import { annualCluster, poolSelector, storeAnnualPlan, testPaceAnnualOptions } from './helpers/annual-plan.js';
import { startAlertmanager, type TestAlertmanager } from './helpers/alertmanager.js';
import { maintWith } from './helpers/cli.js';
import { expectRbacExact } from './helpers/cluster.js';
import { workflowFailureOf } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { decide, signedDecision } from './helpers/keys.js';
import { startUpdateHook } from './helpers/kube.js';
import { RULES, startPrometheus, type TestPrometheus } from './helpers/prometheus.js';
import { interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { SIGNING_SECRET, startStack, uniqueId, until, type Stack } from './helpers/stack.js';
import { openWindow } from './helpers/window.js';

// Nothing here races a clock; this bound only catches a hang on a busy machine.
const SLOW_MACHINE_MS = 240_000;
const BACKEND = { deployment: 'trixtech-backend', container: 'app' };

describe('the annual upgrade plan: reviewed data, approved as it is, read when the window opens', () => {
  let stack: Stack;
  let am: TestAlertmanager;
  let prometheus: TestPrometheus;
  let hook: Awaited<ReturnType<typeof startUpdateHook>>;
  let firstNode = '';

  beforeAll(async () => {
    am = await startAlertmanager();
    prometheus = await startPrometheus({ ruleFiles: [RULES], alertmanagers: [new URL(am.url).host] });
    stack = await startStack(
      { annualUpgrade: { approvers: ['carol', 'dave'], required: 2 }, slackUsers: { UDAVE: 'dave' } },
      {
        name: 'annual-plan',
        people: ['olga'],
        targets: { prometheus: { name: 'prometheus', url: prometheus.url } },
        file: { alerts: { alertmanagerUrl: am.url, ignore: ['Watchdog'] } },
      },
    );
    [firstNode] = (await annualCluster(stack, 1)) as [string];
    hook = await startUpdateHook(stack.kube.admin, 50, 'v1.35.0');
    await prometheus.settled();
  });
  afterAll(async () => {
    await hook?.close();
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
    prometheus?.stop();
    await am?.stop();
  });

  const backendImage = async () =>
    (await stack.kube.apps.readNamespacedDeployment({ name: 'trixtech-backend', namespace: stack.kube.namespace })).spec
      ?.template.spec?.containers[0]?.image;
  const windowStart = () => new Date(Date.now() + 3_600_000).toISOString();
  const plan = (image: string): AnnualPlan => ({
    nodes: { selector: poolSelector(stack) },
    applications: [{ ...BACKEND, image }],
  });
  const maint = (...args: string[]) => maintWith(stack.env, ...args);
  const sign = (who: string) => ['--as', who, '--key', stack.keys.keyFile(who)];
  const input = (start: string): AnnualUpgradeInput => ({
    windowStart: start,
    windowDuration: '1 hour',
    ...testPaceAnnualOptions(hook.url, { description: 'pg_upgrade 15 -> 16', timeout: '60s' }),
  });
  async function awaitingApproval(client: Client, handle: WorkflowHandle, revision: number) {
    await until(`approval asked for revision ${revision}`, async () => {
      const s = await handle.query(statusQuery);
      return (
        (s.waitingFor?.startsWith('approval') ?? false) &&
        (s.approval?.plan.actions[1] ?? '').startsWith(`plan revision ${revision} `)
      );
    });
    return (await handle.query(statusQuery)).approval!;
  }
  const approveAs = async (client: Client, workflowId: string, who: string) =>
    decide(
      client,
      workflowId,
      (await signedDecision(client, workflowId, stack.keys.key(who), { principal: who })).proof,
    );

  it(
    'refuses bad plan input naming what is wrong and stores nothing; an amendment is signed by its author',
    async () => {
      const start = windowStart();
      const setFor = (window: string, p: unknown, signer: string[]) =>
        maint('plan', 'annual', 'set', '--window', window, '--plan', JSON.stringify(p), ...signer);
      const set = (p: unknown, who = 'olga') => setFor(start, p, sign(who));
      const refusals = [
        [
          {
            nodes: 'all',
            applications: [{ deployment: 'no-such-app', container: 'app', image: 'trixtech/backend:2.0.0' }],
          },
          'no-such-app',
        ],
        [
          { nodes: 'all', applications: [{ ...BACKEND, container: 'sidecar', image: 'trixtech/backend:2.0.0' }] },
          'has no container sidecar (has: app)',
        ],
        [
          { nodes: 'all', applications: [{ ...BACKEND, image: 'trixtech/backend:latest' }] },
          'applications.0.image: the tag "latest" of trixtech/backend:latest is not a release version (x.y.z)',
        ],
        [{ nodes: 'all', applications: [{ ...BACKEND, image: 'trixtech/backend:2.0' }] }, 'is not a release version'],
        [
          { nodes: { selector: 'trixtech.test/pool=nobody-has-this' }, applications: [] },
          'nodes: the nodes matching trixtech.test/pool=nobody-has-this selects no node now',
        ],
        [{ nodes: { selector: 'pool in (a' }, applications: [] }, 'nodes: node selector "pool in (a" refused'],
        [{ nodes: 'some', applications: [] }, 'invalid plan, nothing stored: nodes'],
      ] as const;
      for (const [p, why] of refusals) {
        const r = await set(p);
        expect(r.code, JSON.stringify(p)).toBe(1);
        expect(r.err).toContain(why);
        expect(r.err).toContain('nothing stored');
      }
      // Someone else's key: the statement says olga, the key is carol's.
      const forged = await setFor(start, plan('trixtech/backend:2.0.0'), [
        '--as',
        'olga',
        '--key',
        stack.keys.keyFile('carol'),
      ]);
      expect(forged.code).toBe(1);
      expect(forged.err).toMatch(/amendment refused: key \S+ belongs to carol, not olga/);
      expect(await currentAnnualPlan(stack.db.pool, start)).toEqual({ windowStart: start, revision: 0 });
      const shown = await maint('plan', 'annual', '--window', start);
      expect(shown.out).toContain('no plan stored for the window');

      // A window already started: nothing can be stored for it any more.
      const started = await setFor(
        new Date(Date.now() - 60_000).toISOString(),
        plan('trixtech/backend:2.0.0'),
        sign('olga'),
      );
      expect(started.code).toBe(1);
      expect(started.err).toMatch(/amendment refused: the window started at \S+; the plan can no longer change/);

      const ok = await set(plan('trixtech/backend:2.0.0'));
      expect(ok.code, ok.err).toBe(0);
      expect(ok.out).toContain('stored as revision 1 by olga');
      expect(ok.out).toContain('no run of this window is waiting yet');
      const again = await set(plan('trixtech/backend:2.0.0'));
      expect(again.err).toContain('amendment refused: it changes nothing in revision 1');
      const amended = await maint(
        'plan',
        'annual',
        'amend',
        '--window',
        start,
        '--nodes',
        'none',
        ...sign('carol'),
        '--comment',
        'no kernel update this year',
      );
      expect(amended.code, amended.err).toBe(0);
      const history = await maint('plan', 'annual', '--window', start, '--history');
      expect(history.out).toContain('plan revision 2');
      expect(history.out).toContain('no node updates');
      expect(history.out).toMatch(/revision 2 by carol at \S+: no kernel update this year/);
      expect(history.out).toMatch(/revision 1 by olga at /);
    },
    SLOW_MACHINE_MS,
  );

  it(
    'approvers approve the revision they are shown; an amendment asks them again; nodes added before the opening are chosen; after the opening the plan cannot change; alerts are checked before and after',
    async () => {
      await stack.withBridge(async ({ client, taskQueue, bridgeUrl }) => {
        const start = windowStart();
        const workflowId = uniqueId('annual-plan');
        await storeAnnualPlan(stack, start, plan('trixtech/backend:2.0.0'), 'olga');
        const handle = await client.workflow.start(annualUpgrade, { taskQueue, workflowId, args: [input(start)] });
        const first = await awaitingApproval(client, handle, 1);
        // What approvers are shown names the revision, its node rule and the upgrade; its hash is what they sign.
        expect(first.plan.actions).toEqual(
          expect.arrayContaining([
            `rolling OS/kubelet update of the nodes matching ${poolSelector(stack)}, chosen when the window opens`,
            expect.stringMatching(/^upgrade \S+\/trixtech-backend container app to trixtech\/backend:2\.0\.0 /),
          ]),
        );
        expect(await approveAs(client, workflowId, 'carol')).toMatchObject({
          verdict: 'counted',
          progress: '1 of 2 approvals',
        });

        // Amended while the approval is open: the run is told, and asks again for revision 2.
        const amend = await maint(
          'plan',
          'annual',
          'amend',
          '--window',
          start,
          '--app',
          'trixtech-backend/app=trixtech/backend:2.1.0',
          ...sign('olga'),
        );
        expect(amend.code, amend.err).toBe(0);
        // Runs of other windows starting the same day are told too, and ignore it.
        expect(amend.out).toMatch(
          new RegExp(
            `told the running annualUpgrade run\\(s\\) of .*${workflowId}.*; the one of this window asks for approval of revision 2`,
          ),
        );
        const second = await awaitingApproval(client, handle, 2);
        expect(second.planHash).not.toBe(first.planHash);
        // The Slack request of revision 1 carries its plan hash: a click on it after the amendment decides nothing.
        const firstRequest = stack.slack
          .postsTo('/report')
          .find(
            (p) =>
              String(p.body.text).includes(`${start.slice(0, 10)} (one-week notice), plan revision 1`) &&
              JSON.stringify(p.body).includes(workflowId),
          )!;
        const buttons = (firstRequest.body.blocks as { type: string; elements?: { value?: string }[] }[]).find(
          (b) => b.type === 'actions',
        )!;
        const staleValue = buttons.elements![0]!.value!;
        expect(JSON.parse(staleValue)).toEqual({ workflowId, planHash: first.planHash });
        const click = interactionBody('UDAVE', 'approve', staleValue, `${stack.slack.url}/respond/stale`);
        const clicked = await fetch(`${bridgeUrl}/slack/interactions`, {
          method: 'POST',
          body: click,
          headers: slackHeaders(click, SIGNING_SECRET),
        });
        expect(clicked.status).toBe(200);
        await until('the stale click verdict', () => stack.slack.postsTo('/respond/stale').length > 0);
        expect(stack.slack.postsTo('/respond/stale')[0]?.body.text).toMatch(
          /^:warning: Approval by dave via slack not delivered: the plan changed after this request was posted \(now sha256 [0-9a-f]{16}\): decide on the new request$/,
        );
        // A decision signed for revision 1 is for another plan; carol's earlier one no longer counts.
        const stale = await signedDecision(client, workflowId, stack.keys.key('dave'), {
          principal: 'dave',
          planHash: first.planHash,
        });
        expect(await decide(client, workflowId, stale.proof)).toMatchObject({
          verdict: 'ignored',
          reason: expect.stringMatching(/^for another plan/),
          progress: '0 of 2 approvals',
        });
        expect(planHash(second.plan)).toBe(second.planHash);
        expect(await approveAs(client, workflowId, 'carol')).toMatchObject({
          verdict: 'counted',
          progress: '1 of 2 approvals',
        });
        expect(await approveAs(client, workflowId, 'dave')).toMatchObject({
          verdict: 'counted',
          progress: '2 of 2 approvals',
        });
        await until(
          'the wait for the window',
          async () => (await handle.query(statusQuery)).phase === 'waiting for the window',
        );

        // A node joins after the approval, before the opening: the rule chooses it when the window opens.
        const [lateNode] = (await stack.kube.addNodes(1)) as [string];
        await openWindow(handle);
        await until(
          'the database checkpoint',
          async () => (await handle.query(statusQuery)).waitingFor?.startsWith('signal databaseUpgraded') ?? false,
          120_000,
        );
        // Once read at the opening, the plan is closed to amendments.
        const late = await maint('plan', 'annual', 'amend', '--window', start, '--nodes', 'none', ...sign('olga'));
        expect(late.code).toBe(1);
        expect(late.err).toMatch(
          new RegExp(
            `amendment refused: the window opened and run ${workflowId} read revision 2 at \\S+; the plan can no longer change`,
          ),
        );
        expect((await maint('plan', 'annual', '--window', start)).out).toContain(`read by run ${workflowId} at `);
        // An alert fires after the upgrades (the gate let them through): the post-maintenance check names it.
        await am.fire('BookingLatencyHigh', { suite: stack.kube.namespace });
        await handle.signal(databaseUpgradedSignal, { by: 'dba' });
        const report = await handle.result();
        await recordHistory('annualUpgrade-stored-plan-amended', await handle.fetchHistory(), workflowId);

        expect(report.details?.planRevision).toBe(2);
        expect(report.steps.find((s) => s.name === 'read the plan at the window opening')).toMatchObject({
          outcome: 'ok',
          detail: expect.stringMatching(/^revision 2 /),
        });
        const chosen = report.steps.find((s) => s.name === 'choose the nodes')!;
        expect(chosen.detail).toContain(firstNode);
        expect(chosen.detail).toContain(lateNode);
        expect([...hook.requests].sort()).toEqual([firstNode, lateNode].sort());
        expect(await backendImage()).toBe('trixtech/backend:2.1.0');
        expect(report.approvals.filter((a) => !a.ignored).map((a) => a.approver)).toEqual(['carol', 'carol', 'dave']);

        const find = (check: string) => report.checks.filter((c) => c.check === check);
        expect(find('alerts.configured')).toEqual([
          expect.objectContaining({ status: 'ok', detail: 'routes alerts to oncall' }),
        ]);
        // Before the work, and again in the post-maintenance health check.
        for (const check of ['monitoring.rules', 'monitoring.alertmanagers', 'monitoring.watchdog']) {
          expect(find(check).length, check).toBe(2);
          expect(
            find(check).every((c) => c.status === 'ok'),
            check,
          ).toBe(true);
        }
        const cleared = find('alerts.cleared');
        expect(cleared.at(-1)).toMatchObject({
          status: 'warn',
          detail: expect.stringContaining('still firing: BookingLatencyHigh'),
        });
        const item = (id: string) => report.checklist?.items.find((i) => i.id === id);
        expect(item('pre.monitoring')).toMatchObject({ state: 'ok' });
        expect(item('post.alerts-cleared')).toMatchObject({ state: 'warn' });
        const names = report.steps.map((s) => s.name);
        expect(names.indexOf('monitoring alerts configured')).toBeLessThan(names.indexOf('rolling node updates'));
        expect(names.at(-1)).toBe('monitoring alerts cleared');
        await am.resolve('BookingLatencyHigh', { suite: stack.kube.namespace });
      });
    },
    SLOW_MACHINE_MS,
  );

  it(
    'a plan amended after approval that the run was not told about does not run; runs take no nodes or upgrades as input any more',
    async () => {
      await stack.withBridge(async ({ client, taskQueue }) => {
        const start = windowStart();
        const workflowId = uniqueId('annual-plan-untold');
        await storeAnnualPlan(stack, start, plan('trixtech/backend:3.0.0'), 'olga');
        const handle = await client.workflow.start(annualUpgrade, { taskQueue, workflowId, args: [input(start)] });
        await awaitingApproval(client, handle, 1);
        await approveAs(client, workflowId, 'carol');
        await approveAs(client, workflowId, 'dave');
        await until(
          'the wait for the window',
          async () => (await handle.query(statusQuery)).phase === 'waiting for the window',
        );
        // Stored directly: no signal reaches the run (as when Temporal was unreachable from `maint`).
        await storeAnnualPlan(stack, start, plan('trixtech/backend:3.1.0'), 'olga');
        const imageBefore = await backendImage();
        await openWindow(handle);
        const report = await handle.result();
        expect(report.outcome).toBe('skipped');
        expect(report.summary).toMatch(
          /the plan read when the window opened is revision 2 \(by olga at \S+\), not the approved revision 1; nothing was changed/,
        );
        expect(await backendImage()).toBe(imageBefore);
        expect(
          stack.slack
            .postsTo('/alert')
            .some((p) => String(p.body.text).includes(`${workflowId}: Annual maintenance did not run`)),
        ).toBe(true);

        const refused = await workflowFailureOf(
          client.workflow.execute(annualUpgrade, {
            taskQueue,
            workflowId: uniqueId('annual-plan-input'),
            args: [{ ...input(windowStart()), nodes: [firstNode] }],
          }),
        );
        expect(refused.message).toContain(
          'Invalid input for annualUpgrade: nodes: the nodes and upgrades are the stored plan',
        );
      });
    },
    SLOW_MACHINE_MS,
  );
});
