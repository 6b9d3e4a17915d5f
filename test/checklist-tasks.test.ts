// Checklist tasks in Slack, on real services: a quarterly review posts its open tasks with their
// buttons, the real bridge (real HTTP, Slack-signed requests) records a click as a signed sign-off
// with its status through recordSignOff, refuses what it must with nothing recorded, and the
// follow-up reminds the owner role, then hands the task to the backup role, each once.
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChecklistTaskActivities } from '../activities/checklist-tasks.js';
import { startBridge, type RunningBridge } from '../src/bridge.js';
import { listSignOffs } from '../src/checklist-signoffs.js';
import { createNotifier } from '../src/clients.js';
import type { Config } from '../src/config/schema.js';
import { createLogger } from '../src/logger.js';
import { accountChecklist, checklistFor } from '../domain/checklists.js';
import type { DeliveryRecord } from '../domain/run.js';
import { checklistFollowUp } from '../workflows/checklist-follow-up.js';
import { quarterlyReview } from '../workflows/quarterly-review.js';
import { storeOpenQuarterlyRun } from './helpers/checklists.js';
import { recordHistory } from './helpers/histories.js';
import { makeTestKeys } from './helpers/keys.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { SlackSink } from './helpers/slack-sink.js';
import { slackHeaders } from './helpers/slack-signing.js';
import { uniqueId } from './helpers/stack.js';
import { testClient, testConfig, withWorker } from './helpers/temporal.js';

const SECRET = 'tasks-signing-secret';
const TASKS = checklistFor('quarterlyReview').filter((i) => 'task' in i.means);

describe('checklist tasks in Slack', () => {
  let db: TestDatabase;
  let slack: SlackSink;
  let client: Client;
  let bridge: RunningBridge;
  let config: Config;
  const keys = makeTestKeys([]);
  const run = { workflowId: uniqueId('quarterly-tasks'), runId: '' };

  beforeAll(async () => {
    [db, slack, client] = await Promise.all([createTestDatabase('maint_tasks'), new SlackSink().start(), testClient()]);
    config = testConfig(
      {
        MAINT_DATABASE_URL: db.url,
        DATABASE_URL: db.url,
        SLACK_WEBHOOK_URL: `${slack.url}/report`,
        SLACK_TASKS_WEBHOOK_URL: `${slack.url}/tasks`,
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_RESPONSE_URL_PREFIX: `${slack.url}/`,
        BRIDGE_SIGNING_KEY: keys.bridgePrivateKey,
        BRIDGE_RATE_LIMIT_PER_MINUTE: '10000',
      },
      {
        approvals: {
          slackUsers: { UKIM: 'kim', USRE: 'sre-lead', UMAL: 'mallory' },
          bridgeKeys: keys.bridgeKeys,
        },
        checklistRoles: { 'security-engineer': ['kim'], 'engineering-lead': ['sre-lead'] },
      },
    );
    bridge = await startBridge(
      { config, client, logger: createLogger('silent') },
      { host: '127.0.0.1', port: 0, healthPort: 0 },
    );
  });
  afterAll(async () => {
    await bridge?.close();
    await client?.connection.close();
    await slack?.stop();
    await db?.drop();
  });

  /** A task button click as Slack sends it, with what the reason box holds. */
  const click = (user: string, actionId: string, item: string, reason: string | null, respond: string) => {
    const payload = {
      type: 'block_actions',
      user: { id: user },
      response_url: `${slack.url}/respond/${respond}`,
      actions: [{ action_id: actionId, value: JSON.stringify({ ...run, item }) }],
      state: { values: { reason: { reason: { type: 'plain_text_input', value: reason } } } },
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    return fetch(`${bridge.url}/slack/interactions`, { method: 'POST', body, headers: slackHeaders(body, SECRET) });
  };
  const stored = async () =>
    (
      await db.pool.query<{ item: string; principal: string; status: string; comment: string | null; key: string }>(
        `SELECT item, principal, status, comment, proof->>'key' AS key FROM checklist_signoffs
          WHERE workflow_id = $1 ORDER BY item`,
        [run.workflowId],
      )
    ).rows;

  it('a quarterly review posts each open task once, with its owner, reason box and Done / Blocked / Not applicable buttons', async () => {
    const report = await withWorker(config, async ({ client: c, taskQueue }) => {
      const handle = await c.workflow.start(quarterlyReview, { taskQueue, workflowId: run.workflowId, args: [{}] });
      const result = await handle.result();
      await recordHistory('quarterlyReview-task-posts', await handle.fetchHistory());
      return result;
    });
    run.runId = report.runId;
    expect(report.checklist?.openTasks).toBe(TASKS.length);
    expect((report.details?.deliveries as DeliveryRecord[]).find((d) => d.channel === 'tasks')).toEqual({
      channel: 'tasks',
      ok: true,
      detail: `delivered to slack (${TASKS.length} task(s))`,
    });
    const posts = slack.postsTo('/tasks').filter((p) => JSON.stringify(p.body).includes(run.workflowId));
    expect(posts).toHaveLength(TASKS.length);
    const pentest = posts.find((p) => p.body.text?.includes('quarter-security.pentest'))!;
    expect(pentest.body.text).toBe(
      `:clipboard: Task for <@UKIM> (security-engineer; backup engineering-lead: <@USRE>) quarter-security.pentest of quarterlyReview ${run.workflowId}: Conduct penetration testing`,
    );
    const blocks = JSON.stringify(pentest.body.blocks);
    for (const action of ['task-done', 'task-blocked', 'task-not-applicable'])
      expect(blocks).toContain(`"action_id":"${action}"`);
    expect(blocks).toContain('"type":"plain_text_input"');
    expect(slack.postsTo('/report').filter((p) => JSON.stringify(p.body).includes(run.workflowId))).toHaveLength(1);
  });

  it('records a Done click as a sign-off signed by the bridge for the mapped person, and replaces the message', async () => {
    const res = await click('UKIM', 'task-done', 'quarter-security.pentest', null, 'done');
    expect(res.status).toBe(200);
    expect(await stored()).toEqual([
      {
        item: 'quarter-security.pentest',
        principal: 'kim',
        status: 'done',
        comment: null,
        key: keys.bridge.fingerprint,
      },
    ]);
    const [reply] = slack.postsTo('/respond/done');
    expect(reply?.body).toMatchObject({ replace_original: true });
    expect(reply?.body.text).toMatch(/^:white_check_mark: quarter-security\.pentest: Done by kim at \S+Z$/);
    // Once done, a task is not signed again.
    const again = await click('USRE', 'task-not-applicable', 'quarter-security.pentest', 'dup', 'again');
    expect(again.status).toBe(403);
    expect(((await again.json()) as { error: string }).error).toMatch(
      /^quarter-security\.pentest was already signed off by kim at \S+Z$/,
    );
  });

  it('refuses Blocked and Not applicable without a reason, saying so under the message; nothing is recorded', async () => {
    for (const [action, label] of [
      ['task-blocked', 'Blocked'],
      ['task-not-applicable', 'Not applicable'],
    ] as const) {
      for (const reason of [null, '   ']) {
        const res = await click('UKIM', action, 'quarter-security.threat-models', reason, 'no-reason');
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({
          error: `${label} needs a reason: type it in the Reason box, then click ${label} again (nothing was recorded)`,
        });
      }
    }
    expect(slack.postsTo('/respond/no-reason').map((p) => p.body)).toContainEqual({
      response_type: 'ephemeral',
      replace_original: false,
      text: ':warning: Blocked needs a reason: type it in the Reason box, then click Blocked again (nothing was recorded)',
    });
    expect((await stored()).map((r) => r.item)).toEqual(['quarter-security.pentest']);
  });

  it('refuses an unmapped Slack user and a mapped person without the role; nothing is recorded', async () => {
    const stranger = await click('USTRANGER', 'task-done', 'quarter-security.threat-models', null, 'stranger');
    expect(stranger.status).toBe(403);
    expect(await stranger.json()).toEqual({
      error: 'Slack user USTRANGER is not mapped to a person (approvals.slackUsers)',
    });
    const mallory = await click('UMAL', 'task-done', 'quarter-security.threat-models', null, 'mallory');
    expect(mallory.status).toBe(403);
    expect(await mallory.json()).toEqual({
      error: 'sign-off refused: mallory holds neither security-engineer nor engineering-lead (allowed: kim, sre-lead)',
    });
    expect(slack.postsTo('/respond/mallory')[0]?.body.text).toBe(
      ':warning: sign-off refused: mallory holds neither security-engineer nor engineering-lead (allowed: kim, sre-lead)',
    );
    expect((await stored()).map((r) => r.item)).toEqual(['quarter-security.pentest']);
  });

  it('records Blocked with its reason (the buttons stay), then Done over it; shows each status in the checklist', async () => {
    const blocked = await click('USRE', 'task-blocked', 'quarter-security.threat-models', 'waiting on <vendor>', 'b');
    expect(blocked.status).toBe(200);
    const [reply] = slack.postsTo('/respond/b');
    expect(reply?.body.text).toMatch(/^:no_entry: Blocked by sre-lead at \S+Z: waiting on &lt;vendor&gt; /);
    expect(JSON.stringify(reply?.body.blocks)).toContain('"action_id":"task-done"');
    const na = await click('UKIM', 'task-not-applicable', 'quarter-security.improvements', 'no budget this Q', 'na');
    expect(na.status).toBe(200);

    const account = () =>
      listSignOffs(db.pool, run.workflowId, run.runId).then((s) => accountChecklist('quarterlyReview', [], s)!);
    const before = await account();
    expect(before.items.find((i) => i.id === 'quarter-security.threat-models')).toMatchObject({
      state: 'blocked',
      detail: expect.stringMatching(/^blocked per sre-lead at \S+Z: waiting on <vendor>$/),
    });
    expect(before.items.find((i) => i.id === 'quarter-security.improvements')).toMatchObject({
      state: 'not-applicable',
      detail: expect.stringMatching(/^not-applicable per kim at \S+Z: no budget this Q$/),
    });
    expect(before.openTasks).toBe(TASKS.length - 3);

    expect((await click('UKIM', 'task-done', 'quarter-security.threat-models', null, 'unblocked')).status).toBe(200);
    expect((await stored()).map(({ item, principal, status }) => [item, principal, status])).toEqual([
      ['quarter-security.improvements', 'kim', 'not-applicable'],
      ['quarter-security.pentest', 'kim', 'done'],
      ['quarter-security.threat-models', 'kim', 'done'],
    ]);
  });

  it('reminds the owner of each unanswered task, then hands it to the backup, each once; a failed post is sent later', async () => {
    const own = await createTestDatabase('maint_tasks_follow');
    try {
      const workflowId = uniqueId('quarterly-follow');
      await storeOpenQuarterlyRun(own.pool, workflowId);
      const tasks = createChecklistTaskActivities({
        reports: own.pool,
        notifier: createNotifier(config, createLogger('silent')),
        roles: config.checklistRoles,
        approvals: config.approvals,
      });
      const posts = () => slack.postsTo('/tasks').filter((p) => JSON.stringify(p.body).includes(workflowId));
      const pass = (remindAfterMs: number, handOffAfterMs: number) =>
        tasks.followUpChecklistTasks({ remindAfterMs, handOffAfterMs, lookbackMs: 3_600_000 });

      // Through the scheduled workflow, with its defaults: a day has not passed, nothing is sent.
      const followUp = await withWorker({ ...config, reportDatabaseUrl: own.url }, async ({ client: c, taskQueue }) => {
        const handle = await c.workflow.start(checklistFollowUp, {
          taskQueue,
          workflowId: uniqueId('follow-up'),
          args: [{}],
        });
        const result = await handle.result();
        await recordHistory('checklistFollowUp', await handle.fetchHistory());
        return result;
      });
      expect(followUp.summary).toBe(
        `Checklist follow-up: ${TASKS.length} open task(s), 0 reminder(s), 0 handoff(s) (0 critical, 0 warn, 1 ok, 0 skipped)`,
      );
      expect(posts()).toEqual([]);
      // An answered task (any status) is nobody's to chase.
      await own.pool.query(
        `INSERT INTO checklist_signoffs (workflow_id, run_id, item, principal, status, comment, proof)
         VALUES ($1, 'run-1', 'quarter-security.pentest', 'kim', 'not-applicable', 'n/a', '{}')`,
        [workflowId],
      );
      const open = TASKS.length - 1;

      expect(await pass(0, 86_400_000)).toEqual({ open, reminders: open, handoffs: 0, failed: [] });
      expect(await pass(0, 86_400_000)).toEqual({ open, reminders: 0, handoffs: 0, failed: [] });
      const reminder = posts().find((p) => p.body.text?.includes('quarter-security.threat-models'))!;
      expect(reminder.body.text).toMatch(
        /^:alarm_clock: Reminder for <@UKIM> \(security-engineer\): nobody has signed this off \d+ min after the run quarter-security\.threat-models of quarterlyReview /,
      );

      slack.failWith = 500;
      const failed = await pass(0, 0);
      slack.failWith = null;
      expect(failed).toMatchObject({ open, reminders: 0, handoffs: 0 });
      expect(failed.failed).toHaveLength(open);
      expect(failed.failed[0]).toMatch(
        /^handoff of quarter-\S+ \(quarterly-follow-\S+\): Slack webhook post failed: HTTP 500$/,
      );

      expect(await pass(0, 0)).toEqual({ open, reminders: 0, handoffs: open, failed: [] });
      expect(await pass(0, 0)).toEqual({ open, reminders: 0, handoffs: 0, failed: [] });
      const handoff = posts().find(
        (p) => p.body.text?.includes('quarter-security.threat-models') && p.body.text.includes('Handed'),
      )!;
      expect(handoff.body.text).toMatch(
        /^:arrows_counterclockwise: Handed to <@USRE> \(engineering-lead, the backup\): security-engineer did not sign it off within 1 min of the reminder quarter-security\.threat-models /,
      );
      expect(JSON.stringify(handoff.body.blocks)).toContain('"action_id":"task-blocked"');
      expect(posts()).toHaveLength(2 * open);
      expect(posts().some((p) => p.body.text?.includes('quarter-security.pentest'))).toBe(false);
    } finally {
      await own.drop();
    }
  });
});
