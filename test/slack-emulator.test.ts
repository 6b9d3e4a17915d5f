// The Slack emulator of `npm run up`, end to end on real services: a quarterly review (real
// Temporal, real worker) posts its tasks to the emulator over HTTP; a Done click through the
// emulator's /click reaches the real bridge signed as Slack signs it and is recorded; another task
// is signed off with `maint signoff`; `maint report` lists both with who, how and when, and every
// other task as not signed off. A click whose signature is tampered with or missing is refused.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startSlackEmulator,
  type ClickResult,
  type EmulatedMessage,
  type SlackEmulator,
} from '../dev/slack-emulator.js';
import { startBridge, type RunningBridge } from '../src/bridge.js';
import type { Config } from '../src/config/schema.js';
import { createLogger } from '../src/logger.js';
import { checklistFor } from '../domain/checklists.js';
import { quarterlyReview } from '../workflows/quarterly-review.js';
import { maint } from './helpers/cli.js';
import { makeTestKeys } from './helpers/keys.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { uniqueId } from './helpers/stack.js';
import { temporalEnv, testClient, testConfig, withWorker } from './helpers/temporal.js';

const SECRET = 'emulator-signing-secret';
const TASKS = checklistFor('quarterlyReview').filter((i) => 'task' in i.means);
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/.source;

describe('the Slack emulator of npm run up', () => {
  let db: TestDatabase;
  let client: Client;
  let bridge: RunningBridge;
  let emulator: SlackEmulator;
  let config: Config;
  const saved = { ...process.env };
  const keys = makeTestKeys(['oncall-lead']);
  const logFile = join(mkdtempSync(join(tmpdir(), 'slack-emulator-')), 'slack.log');
  const workflowId = uniqueId('quarterly-emulated');
  const started = new Date();

  beforeAll(async () => {
    [db, client, emulator] = await Promise.all([
      createTestDatabase('maint_emulator'),
      testClient(),
      startSlackEmulator({ port: 0, signingSecret: SECRET, user: { id: 'U0SRE', name: 'sre-lead' }, logFile }),
    ]);
    config = testConfig(
      {
        MAINT_DATABASE_URL: db.url,
        DATABASE_URL: db.url,
        SLACK_WEBHOOK_URL: `${emulator.url}/hooks/report`,
        SLACK_TASKS_WEBHOOK_URL: `${emulator.url}/hooks/tasks`,
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_RESPONSE_URL_PREFIX: `${emulator.url}/respond/`,
        BRIDGE_SIGNING_KEY: keys.bridgePrivateKey,
      },
      {
        approvals: { slackUsers: { U0SRE: 'sre-lead' }, bridgeKeys: keys.bridgeKeys, operatorKeys: keys.operatorKeys },
        checklistRoles: {
          'security-engineer': ['sre-lead'],
          'engineering-lead': ['oncall-lead'],
          'devops-lead': ['oncall-lead'],
          'development-lead': ['oncall-lead'],
        },
      },
    );
    bridge = await startBridge(
      { config, client, logger: createLogger('silent') },
      { host: '127.0.0.1', port: 0, healthPort: 0 },
    );
    emulator.bridgeUrl = bridge.url;
    // `maint` reads the same configuration, as a user's shell would give it.
    Object.assign(process.env, {
      ...temporalEnv(),
      MAINT_DATABASE_URL: db.url,
      DATABASE_URL: db.url,
      MAINT_CONFIG: config.configFile,
      LOG_LEVEL: 'silent',
    });
  });
  afterAll(async () => {
    process.env = saved;
    await bridge?.close();
    await emulator?.close();
    await client?.connection.close();
    await db?.drop();
  });

  const messages = async (): Promise<EmulatedMessage[]> => {
    const res = await fetch(`${emulator.url}/messages`);
    expect(res.status).toBe(200);
    return ((await res.json()) as EmulatedMessage[]).filter((m) => JSON.stringify(m).includes(workflowId));
  };
  const taskMessage = async (item: string) =>
    (await messages()).find((m) => m.channel === 'tasks' && m.text.includes(` ${item} `))!;
  const click = async (body: Record<string, unknown>) => {
    const res = await fetch(`${emulator.url}/click`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, result: (await res.json()) as ClickResult & { error?: string } };
  };
  const recorded = async () =>
    (
      await db.pool
        .query<{ item: string; principal: string; status: string }>(
          `SELECT item, principal, status FROM checklist_signoffs WHERE workflow_id = $1 ORDER BY item`,
          [workflowId],
        )
        .catch(() => ({ rows: [] }))
    ).rows;

  it('receives the quarterly review: its report and each open task with a Reason box and Done / Blocked / Not applicable', async () => {
    const report = await withWorker(config, async ({ client: c, taskQueue }) =>
      (await c.workflow.start(quarterlyReview, { taskQueue, workflowId, args: [{ lookbackDays: 1 }] })).result(),
    );
    expect(report.checklist?.openTasks).toBe(TASKS.length);
    const all = await messages();
    expect(all.filter((m) => m.channel === 'report')).toHaveLength(1);
    const tasks = all.filter((m) => m.channel === 'tasks');
    expect(tasks.map((m) => TASKS.find((t) => m.text.includes(` ${t.id} `))?.id).sort()).toEqual(
      TASKS.map((t) => t.id).sort(),
    );
    for (const m of tasks) {
      expect(m.buttons.map((b) => [b.actionId, b.label])).toEqual([
        ['task-done', 'Done'],
        ['task-blocked', 'Blocked'],
        ['task-not-applicable', 'Not applicable'],
      ]);
      expect(m.inputs).toEqual([
        { blockId: 'reason', actionId: 'reason', label: 'Reason (needed for Blocked and Not applicable)' },
      ]);
    }
    const page = await (await fetch(emulator.url)).text();
    expect(page).toContain('Conduct penetration testing');
    expect(page).toContain('<button name="action" value="task-not-applicable" class="">Not applicable</button>');
    expect(readFileSync(logFile, 'utf8')).toMatch(
      new RegExp(
        `#tasks \\[\\d+\\] :clipboard: Task for .* quarter-security\\.pentest of quarterlyReview ${workflowId}`,
      ),
    );
  });

  it('sends a Done click to the bridge as Slack does; the bridge records it for the mapped person and replaces the message', async () => {
    const pentest = await taskMessage('quarter-security.pentest');
    const done = await click({ message: pentest.id, action: 'task-done' });
    expect(done.status).toBe(200);
    expect(done.result.status).toBe(200);
    expect(done.result.message.text).toMatch(
      new RegExp(`^:white_check_mark: quarter-security\\.pentest: Done by sre-lead at ${ISO}$`),
    );
    expect(done.result.message.buttons).toEqual([]);
    expect(await recorded()).toEqual([{ item: 'quarter-security.pentest', principal: 'sre-lead', status: 'done' }]);

    // Blocked needs the Reason box: refused by the bridge, said under the message, nothing recorded.
    const threats = await taskMessage('quarter-security.threat-models');
    const blocked = await click({ message: threats.id, action: 'task-blocked' });
    expect(blocked.result.status).toBe(400);
    expect(blocked.result.message.notes).toEqual([
      'only you can see this: :warning: Blocked needs a reason: type it in the Reason box, then click Blocked again (nothing was recorded)',
      'Blocked clicked as sre-lead: bridge answered 400: Blocked needs a reason: type it in the Reason box, then click Blocked again (nothing was recorded)',
    ]);
    expect(blocked.result.message.buttons).toHaveLength(3);
    expect(await recorded()).toHaveLength(1);
  });

  it('refuses a click whose signature is tampered with or missing; nothing is recorded and the buttons stay', async () => {
    const threats = await taskMessage('quarter-security.threat-models');
    for (const signing of ['tampered', 'none']) {
      const res = await click({ message: threats.id, action: 'task-done', signing });
      expect(res.result.status).toBe(401);
      expect((res.result.body as { error: string }).error).toMatch(/^request refused: /);
    }
    expect(await recorded()).toHaveLength(1);
    expect((await taskMessage('quarter-security.threat-models')).buttons).toHaveLength(3);
    // A button the message does not have is the emulator's own refusal.
    const unknown = await click({ message: threats.id, action: 'approve' });
    expect(unknown.status).toBe(400);
    expect(unknown.result.error).toBe(
      `message ${threats.id} has no button 'approve' (it has: task-done, task-blocked, task-not-applicable)`,
    );
  });

  it('maint report lists the Slack and the CLI sign-off with who, how and when, and every other task as not signed off', async () => {
    const signed = await maint(
      'signoff',
      workflowId,
      'quarter-strategy.slo',
      '--as',
      'oncall-lead',
      '--key',
      keys.keyFile('oncall-lead'),
      '--comment',
      'https://wiki.example/slo-q4',
    );
    expect(signed).toMatchObject({ code: 0, err: '' });

    const report = await maint('report', workflowId);
    expect(report).toMatchObject({ code: 0, err: '' });
    const lines = report.out.split('\n');
    // What the run said when it finished stays as it was; the checklist is joined with the sign-offs now.
    expect(lines).toContain(`outcome when it finished: ok, ${TASKS.length} task(s) awaiting sign-off`);
    expect(lines).toContain(
      `checklist now: checklist open: 0 of ${TASKS.length} items checked, 2 signed off, ${TASKS.length - 2} awaiting sign-off (outcome now: ok, ${TASKS.length - 2} task(s) awaiting sign-off)`,
    );
    expect(report.out).toMatch(
      new RegExp(`^  signed-off +quarter-security\\.pentest: done by sre-lead via slack at ${ISO}$`, 'm'),
    );
    expect(report.out).toMatch(
      new RegExp(
        `^  signed-off +quarter-strategy\\.slo: done by oncall-lead via cli at ${ISO}: https://wiki\\.example/slo-q4$`,
        'm',
      ),
    );
    const open = lines.filter((l) =>
      /^ {2}awaiting-sign-off +quarter-[a-z-]+\.[a-z-]+: not signed off \(owner /.test(l),
    );
    expect(open).toHaveLength(TASKS.length - 2);
    expect(lines).toContain(
      '  awaiting-sign-off quarter-security.threat-models: not signed off (owner security-engineer, backup engineering-lead)',
    );

    const asJson = await maint('report', workflowId, '--json');
    const parsed = JSON.parse(asJson.out) as {
      report: { checklist: { openTasks: number } };
      signOffs: { item: string; by: string; at: string; via: string; status: string }[];
    };
    expect(parsed.report.checklist.openTasks).toBe(TASKS.length);
    expect(parsed.signOffs.map(({ item, by, via, status }) => ({ item, by, via, status }))).toEqual([
      { item: 'quarter-security.pentest', by: 'sre-lead', via: 'slack', status: 'done' },
      { item: 'quarter-strategy.slo', by: 'oncall-lead', via: 'cli', status: 'done' },
    ]);
    for (const s of parsed.signOffs) {
      // Whole seconds: the sign-off cannot predate the test's start (to the second) nor the present.
      expect(Date.parse(s.at)).toBeGreaterThanOrEqual(Math.floor(started.getTime() / 1000) * 1000);
      expect(Date.parse(s.at)).toBeLessThanOrEqual(Date.now());
    }
    // The stored report itself was not rewritten.
    const { rows } = await db.pool.query<{ open: string }>(
      `SELECT report->'checklist'->>'openTasks' AS open FROM maintenance_runs WHERE workflow_id = $1`,
      [workflowId],
    );
    expect(rows).toEqual([{ open: String(TASKS.length) }]);

    const missing = await maint('report', 'no-such-run');
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(
      "maint: no stored report of 'no-such-run' (a run stores it when it ends; see maint runs or maint status)",
    );
  });
});
