// A sample of test/fuzz-inputs.test.ts's hostile inputs sent to real runs on the dev server, with
// malformed signals and Updates to a gated run (issue 21): every bad input fails its run at once
// naming the field, nothing destructive runs, the worker stays up and normal runs still complete.
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, RawValue } from '@temporalio/common';
import fc from 'fast-check';
import type { RunReport } from '../domain/run.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInputIssues } from '../domain/input-errors.js';
import { dailyHealthCheck } from '../workflows/daily-health-check.js';
import { emergencyMaintenance } from '../workflows/emergency-maintenance.js';
import { approveSignal, decideUpdate, rejectSignal, statusQuery } from '../workflows/lib/definitions.js';
import { apply, INPUTS, mutation } from './fuzz/inputs.js';
import { expectRbacExact, QUICK_PODS, waitForDeployment } from './helpers/cluster.js';
import { alicesBackendScaling, decide, signedDecision } from './helpers/keys.js';
import { startStack, uniqueId, until, type Stack } from './helpers/stack.js';
import { freePort } from './helpers/net.js';
import { testConfig, withWorker } from './helpers/temporal.js';
import { rejectionOf } from './helpers/failures.js';

const SEED = 2126;
const PER_TYPE = 3;
const READ_VERBS = new Set(['get', 'list', 'watch']);
/** A payload no converter knows: it used to hang every workflow type (workflow task failing forever). */
const undecodable = () =>
  RawValue.fromPayload({
    metadata: { encoding: new TextEncoder().encode('binary/fuzz') },
    data: new TextEncoder().encode('\u0000'),
  });

/** The first few refused mutations of each type's valid input, each of another field or kind, with the field each names. */
function badInputs(): { type: string; input: unknown; field: string }[] {
  return Object.entries(INPUTS).flatMap(([type, c]) => {
    const seen = new Set<string>();
    const refused = fc
      .sample(mutation(c.valid()), { seed: SEED, numRuns: 200 })
      .filter((m) => {
        const key = m.kind === 'replace' ? m.path.join('.') : m.kind;
        return !seen.has(key) && Boolean(seen.add(key));
      })
      .flatMap((m) => {
        const input = apply(c.valid(), m);
        const r = c.schema.safeParse(input);
        return r.success ? [] : [{ type, input, field: describeInputIssues(r.error.issues)[0]!.split(':')[0]! }];
      });
    return [
      ...refused.slice(0, PER_TYPE),
      { type, input: { ...c.valid(), ['k'.repeat(1_000_000)]: 1 }, field: '(input)' },
      { type, input: undecodable(), field: 'could not be decoded' },
    ];
  });
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  const err = await rejectionOf(p);
  return err instanceof WorkflowFailedError ? err.cause : err;
}

describe('hostile inputs, signals and Updates against real runs', () => {
  let stack: Stack;
  const bookings = async () =>
    Number((await stack.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM bookings')).rows[0]!.n);
  const replicas = async () =>
    (await stack.kube.apps.readNamespacedDeployment({ name: 'trixtech-backend', namespace: stack.kube.namespace })).spec
      ?.replicas;
  /** The worker's requests so far, from the apiserver's audit log. */
  const workerRequests = () => stack.kube.audit().filter((e) => e.objectRef?.resource);

  beforeAll(async () => {
    stack = await startStack(
      { emergencyMaintenance: { approvers: ['alice', 'bob'], required: 1 } },
      { name: 'fuzz-workflows' },
    );
    await stack.kube.addNodes(3);
    await stack.kube.deploy('trixtech-backend', { replicas: 2, podAnnotations: QUICK_PODS });
    await waitForDeployment(stack.kube, 'trixtech-backend');
    await stack.db.pool.query(
      "CREATE TABLE bookings (id int PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now() - interval '3 years'); INSERT INTO bookings (id) SELECT generate_series(1, 500)",
    );
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.stop();
  });

  it('every workflow type fails a bad input at once naming the field, changing nothing; the worker stays up', async () => {
    await withWorker(stack.config, async ({ client, taskQueue }) => {
      const cases = badInputs();
      const before = { bookings: await bookings(), served: workerRequests().length, slack: stack.slack.posts.length };
      const outcomes = await Promise.all(
        cases.map(async (c, i) => ({
          ...c,
          err: await failureOf(
            client.workflow.execute(c.type, {
              taskQueue,
              workflowId: uniqueId(`fuzz-${c.type}-${i}`),
              args: [c.input],
              workflowExecutionTimeout: '60s',
            }),
          ),
        })),
      );
      for (const o of outcomes) {
        const failure = o.err as ApplicationFailure;
        expect(failure, `${o.type} ${o.field}`).toBeInstanceOf(ApplicationFailure);
        expect(failure.type, `${o.type}: ${failure.message}`).toBe('InvalidInput');
        expect(failure.nonRetryable).toBe(true);
        expect(failure.message).toContain(o.field);
        expect(failure.message.length).toBeLessThan(4000);
      }
      // None hung: a run that did would end by its execution timeout, not as InvalidInput (checked above).
      expect(await bookings()).toBe(before.bookings);
      expect(
        workerRequests()
          .slice(before.served)
          .filter((r) => !READ_VERBS.has(r.verb))
          .map((r) => `${r.verb} ${r.objectRef!.resource}`),
      ).toEqual([]);
      expect(stack.slack.posts.length).toBe(before.slack);

      const report = await client.workflow.execute(dailyHealthCheck, {
        taskQueue,
        workflowId: uniqueId('fuzz-after'),
        args: [{ checks: ['database'] }],
      });
      expect(report.outcome).toBe('ok');
    });
  });

  it('malformed signals and Updates to a gated run are ignored; the run still answers, is approved and completes', async () => {
    await withWorker(stack.config, async ({ client, taskQueue }) => {
      const workflowId = uniqueId('fuzz-gated');
      const handle: WorkflowHandle = await client.workflow.start(emergencyMaintenance, {
        taskQueue,
        workflowId,
        args: [
          alicesBackendScaling(stack.keys.key('alice'), workflowId, stack.kube.namespace, 3, {
            reason: 'fuzz <!channel> \u0000 gated',
          }),
        ],
      });
      await until(
        'the approval request',
        async () => (await handle.query(statusQuery)).waitingFor?.startsWith('approval') ?? false,
      );
      const garbage: unknown[] = [
        null,
        'x',
        42,
        [],
        { proof: null },
        { proof: 'x'.repeat(10_000) },
        { approver: { toString: 1 } },
        { comment: 'c'.repeat(200_000) },
      ];
      for (const g of garbage) {
        await handle.signal(approveSignal, g as never);
        await handle.signal(rejectSignal, g as never);
      }
      await handle.signal('approve', undecodable());
      await client.workflowService.signalWorkflowExecution({
        namespace: stack.config.temporal.namespace,
        workflowExecution: { workflowId },
        signalName: 'reject',
        input: {
          payloads: [
            {
              metadata: { encoding: new TextEncoder().encode('json/plain') },
              data: new TextEncoder().encode('{not json'),
            },
          ],
        },
      });
      for (const g of [null, 'x', { proof: { statement: 1 } }]) {
        const verdict = await handle
          .executeUpdate(decideUpdate, { args: [g as never] })
          .catch((e: Error) => ({ verdict: 'refused', reason: e.message }));
        expect(['ignored', 'refused']).toContain(verdict.verdict);
      }
      const big = await handle
        .executeUpdate(decideUpdate, { args: [{ comment: 'c'.repeat(200_000) } as never] })
        .catch((e: Error) => e);
      expect(big).toBeInstanceOf(Error);

      const status = await handle.query(statusQuery);
      expect(status.waitingFor).toMatch(/^approval/);
      expect(status.approvals.length).toBeGreaterThan(0);
      expect(JSON.stringify(status).length).toBeLessThan(100_000);
      expect(await replicas()).toBe(2);

      const { proof } = await signedDecision(client, workflowId, stack.keys.key('bob'), { principal: 'bob' });
      expect((await decide(client, workflowId, proof)).verdict).toBe('counted');
      const report = (await handle.result()) as RunReport;
      // Executed on bob's approval; its one warning is kwok serving no pod logs here (no serveLogs in this file).
      expect(report.outcome).toBe('warn');
      expect(report.summary).toContain(
        'executed (1 action(s), approved by bob); verification warn (0 critical, 1 warn,',
      );
      expect(report.checks.filter((c) => c.status === 'warn').map((c) => c.check)).toEqual(['k8s.error-logs']);
      expect(await replicas()).toBe(3);
      // The NUL in the reason no longer keeps the run out of maintenance_runs; Slack gets it escaped.
      const { rows } = await stack.db.pool.query<{ summary: string }>(
        'SELECT summary FROM maintenance_runs WHERE workflow_id = $1',
        [workflowId],
      );
      expect(rows).toEqual([{ summary: expect.stringContaining('fuzz <!channel> \uFFFD gated') }]);
      const posted = JSON.stringify(stack.slack.posts.filter((p) => JSON.stringify(p.body).includes(workflowId)));
      expect(posted).toContain('&lt;!channel&gt;');
      expect(posted).not.toContain('<!channel>');
    });
  });

  it('a report that cannot be stored alerts', async () => {
    const config = testConfig({
      ...stack.slack.workerEnv(stack.db.url, `postgresql://postgres@127.0.0.1:${await freePort()}/nowhere`),
    });
    await withWorker(config, async ({ client, taskQueue }) => {
      const workflowId = uniqueId('fuzz-unstored');
      const report = await client.workflow.execute(dailyHealthCheck, {
        taskQueue,
        workflowId,
        // Thresholds no disk reaches: the outcome does not depend on how full the host is.
        args: [{ checks: ['disk'], thresholds: { diskWarnPercent: 100, diskCriticalPercent: 100 } }],
      });
      expect(report.outcome).toBe('ok');
      const alert = stack.slack.postsTo('/alert').find((p) => p.body.text?.includes(workflowId));
      expect(alert?.body.text).toMatch(/could not be stored in maintenance_runs/);
    });
  });
});
