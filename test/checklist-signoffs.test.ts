// `maint tasks` and `maint signoff` against a real report database: a stored run's open tasks, a
// signed sign-off by the owner's backup, and every refusal leaving nothing written.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSignOff, signOffPlan } from '../src/checklist-signoffs.js';
import { loadConfig } from '../src/config/load.js';
import { signStatement } from '../src/signing.js';
import { planHash } from '../domain/approval-proof.js';
import { findItem } from '../domain/checklists.js';
import { storeOpenQuarterlyRun, storeReport } from './helpers/checklists.js';
import { makeTestKeys } from './helpers/keys.js';
import { maint } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { uniqueId } from './helpers/stack.js';

describe('checklist sign-offs', () => {
  let db: TestDatabase;
  const saved = { ...process.env };
  const keys = makeTestKeys(['kim', 'sre-lead', 'mallory']);
  const dir = mkdtempSync(join(tmpdir(), 'maint-checklist-'));
  const configFile = (roles: Record<string, string[]>) => {
    const file = join(dir, `${uniqueId('config')}.json`);
    writeFileSync(file, JSON.stringify({ approvals: { operatorKeys: keys.operatorKeys }, checklistRoles: roles }));
    return file;
  };
  const withRoles = configFile({ 'security-engineer': ['kim'], 'engineering-lead': ['sre-lead'] });
  const workflowId = uniqueId('quarterly-review');

  beforeAll(async () => {
    db = await createTestDatabase('maint_checklist');
    Object.assign(process.env, {
      MAINT_DATABASE_URL: db.url,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
      MAINT_CONFIG: withRoles,
    });
    await storeOpenQuarterlyRun(db.pool, workflowId);
  });
  afterAll(async () => {
    process.env = saved;
    await db?.drop();
  });

  /** `maint signoff` of this run's `item` as `person`, with the key of `keyOf` (theirs unless said). */
  const signOff = (item: string, person: string, keyOf = person, ...rest: string[]) =>
    maint('signoff', workflowId, item, '--as', person, '--key', keys.keyFile(keyOf), ...rest);
  const signoffs = async () =>
    (
      await db.pool
        .query('SELECT item, principal, comment FROM checklist_signoffs WHERE workflow_id = $1', [workflowId])
        .catch(() => ({ rows: [] }))
    ).rows;

  it('lists every item of a stored run, the tasks as awaiting their owner', async () => {
    const r = await maint('tasks', workflowId);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('checklist open: 0 of 18 items checked, 18 awaiting sign-off');
    expect(r.out).toMatch(
      /awaiting-sign-off +quarter-security\.pentest: awaiting sign-off by security-engineer \(backup engineering-lead\)/,
    );
  });

  it('refuses a signer without the role, a key that is not theirs, an unknown item and a check item; nothing is written', async () => {
    const outsider = await signOff('quarter-security.pentest', 'mallory');
    expect(outsider.code).toBe(1);
    expect(outsider.err).toContain(
      'mallory holds neither security-engineer nor engineering-lead (allowed: kim, sre-lead)',
    );
    const borrowed = await signOff('quarter-security.pentest', 'kim', 'mallory');
    expect(borrowed.err).toMatch(/belongs to mallory, not kim/);
    const unknown = await signOff('quarter-security.nothing', 'kim');
    expect(unknown.err).toMatch(
      /quarterlyReview has no checklist item 'quarter-security.nothing' \(tasks: quarter-strategy.slo, /,
    );
    const weekly = uniqueId('daily');
    await storeReport(db.pool, { workflowId: weekly, kind: 'dailyHealthCheck' });
    const checkItem = await maint('signoff', weekly, 'morning.disk', '--as', 'kim', '--key', keys.keyFile('kim'));
    expect(checkItem.err).toContain(
      'morning.disk is met by a check (disk, db.size, db.volume, node.disk), not by a sign-off',
    );
    expect(await signoffs()).toEqual([]);
  });

  it('records a sign-off by the backup role with its comment, shows it in the run, and refuses a second one', async () => {
    const r = await signOff(
      'quarter-security.pentest',
      'sre-lead',
      'sre-lead',
      '--comment',
      'https://wiki/pentest-2026-q4',
    );
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^quarter-security\.pentest signed off by sre-lead at \S+Z: Conduct penetration testing$/);
    expect(await signoffs()).toEqual([
      { item: 'quarter-security.pentest', principal: 'sre-lead', comment: 'https://wiki/pentest-2026-q4' },
    ]);

    const tasks = await maint('tasks', workflowId);
    expect(tasks.out).toContain('1 signed off, 17 awaiting sign-off');
    expect(tasks.out).toMatch(
      /signed-off +quarter-security\.pentest: signed off by sre-lead at \S+: https:\/\/wiki\/pentest-2026-q4/,
    );

    const again = await signOff('quarter-security.pentest', 'kim');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already signed off by sre-lead at /);
    expect(await signoffs()).toHaveLength(1);
  });

  it('takes a status: blocked and not-applicable need a reason, a blocked task is signed again, the status is signed', async () => {
    const item = 'quarter-security.threat-models';
    const as = (person: string, ...rest: string[]) => signOff(item, person, person, ...rest);
    const noReason = await as('kim', '--status', 'blocked', '--comment', ' ');
    expect(noReason).toMatchObject({
      code: 1,
      err: 'maint: a blocked sign-off needs a reason: --reason <why>; nothing was recorded',
    });
    expect((await as('kim', '--status', 'maybe')).err).toBe(
      "maint: --status 'maybe' is not one of done, blocked, not-applicable",
    );

    const blocked = await as('kim', '--status', 'blocked', '--reason', 'waiting on the vendor');
    expect(blocked).toMatchObject({ code: 0, err: '' });
    expect(blocked.out).toMatch(
      /^quarter-security\.threat-models marked blocked by kim at \S+Z: Update threat models \(reason: waiting on the vendor\)$/,
    );
    const tasks = await maint('tasks', workflowId);
    expect(tasks.out).toContain('checklist open: 0 of 18 items checked, 1 signed off, 1 blocked, 16 awaiting sign-off');
    expect(tasks.out).toMatch(
      /blocked +quarter-security\.threat-models: blocked per kim at \S+Z: waiting on the vendor/,
    );

    // A proof of "done" is no proof of "not-applicable": the status is part of what is signed.
    const config = loadConfig({ ...process.env });
    const run = { workflowId, runId: 'run-1', kind: 'quarterlyReview' };
    const doneProof = signStatement(
      {
        decision: 'approve',
        workflowId,
        runId: 'run-1',
        planHash: planHash(signOffPlan('quarterlyReview', findItem('quarterlyReview', item)!)),
        principal: 'sre-lead',
        comment: 'out of scope',
        via: 'cli',
      },
      keys.key('sre-lead'),
    );
    await expect(
      recordSignOff(
        db.pool,
        { approvals: config.approvals, roles: config.checklistRoles },
        run,
        item,
        doneProof,
        'not-applicable',
      ),
    ).rejects.toThrow(`sign-off refused: signed for another item or status than ${item} not-applicable`);

    const na = await as('sre-lead', '--status', 'not-applicable', '--reason', 'no threat model changes this quarter');
    expect(na).toMatchObject({ code: 0, err: '' });
    expect(await signoffs()).toContainEqual({
      item,
      principal: 'sre-lead',
      comment: 'no threat model changes this quarter',
    });
    const again = await as('kim', '--status', 'blocked', '--reason', 'x');
    expect(again.err).toMatch(
      /^maint: quarter-security\.threat-models was already marked not-applicable by sre-lead at \S+Z$/,
    );
  });

  it('says which role maps nobody when no one may sign', async () => {
    process.env.MAINT_CONFIG = configFile({});
    try {
      const r = await signOff('quarter-strategy.slo', 'kim');
      expect(r.code).toBe(1);
      expect(r.err).toContain('checklistRoles maps nobody to engineering-lead or devops-lead');
      const bad = configFile({});
      writeFileSync(bad, JSON.stringify({ checklistRoles: { 'release-manager': ['kim'] } }));
      process.env.MAINT_CONFIG = bad;
      const refused = await maint('checklist');
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/checklistRoles/);
    } finally {
      process.env.MAINT_CONFIG = withRoles;
    }
  });
});
