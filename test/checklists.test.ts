import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  accountChecklist,
  CHECKLIST_ITEMS,
  CHECKLISTS,
  checklistFor,
  ChecklistRolesSchema,
  ROUTINE_GUIDE,
} from '../domain/checklists.js';
import type { CheckResult } from '../domain/checks.js';
import { outcomeLabel, reportMarkdown, reportSlackMessage } from '../domain/format.js';
import type { RunReport } from '../domain/run.js';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The seed guide's `- [ ]` lines with the `###` / `####` headings they sit under. */
function seedItems(markdown: string): { section: string; text: string }[] {
  const items: { section: string; text: string }[] = [];
  let h3 = '';
  let h4 = '';
  let h2 = '';
  for (const line of markdown.split('\n')) {
    if (line.startsWith('## ')) [h2, h3, h4] = [line.slice(3).trim(), '', ''];
    else if (line.startsWith('### ')) [h3, h4] = [line.slice(4).trim(), ''];
    else if (line.startsWith('#### ')) h4 = line.slice(5).trim().replace(/:$/, '');
    else if (line.startsWith('- [ ] '))
      items.push({ section: [h4 ? h3 : h2, h4 || h3].join(' / '), text: line.slice(6).trim() });
  }
  return items;
}

function sources(dir: string): string {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => read(join(dir, f)))
    .join('\n');
}

/**
 * A workflow's own file, the workflows/lib modules it imports, and those of the child workflows it
 * starts: where the activities of its checks must be called.
 */
function workflowText(
  kind: string,
  files = readdirSync(join(root, 'workflows')).filter((f) => f.endsWith('.ts')),
): string {
  const file = files.find((f) => read(join('workflows', f)).includes(`export async function ${kind}(`));
  if (!file) throw new Error(`no workflow file exports ${kind}`);
  const text = read(join('workflows', file));
  const libs = [...text.matchAll(/from '\.\/lib\/([\w-]+)\.js'/g)].map((m) =>
    read(join('workflows', 'lib', `${m[1]}.ts`)),
  );
  const children = [...text.matchAll(/executeChild\((\w+)/g)].map((m) => m[1]!).filter((c) => c !== kind);
  return [text, ...libs, ...children.map((c) => workflowText(c, files))].join('\n');
}

describe('the seed checklists as data', () => {
  const seed = seedItems(read('docs/seeds/routine-maintenance-guide.md'));

  it('has an entry for every checklist line of the seed guide, in its section, word for word', () => {
    expect(seed.length).toBeGreaterThan(100);
    const missing = seed.filter(
      (s) => !CHECKLIST_ITEMS.some((i) => i.text === s.text && i.source.section === s.section),
    );
    expect(missing).toEqual([]);
  });

  it('invents no item the seed does not have, and names each once', () => {
    const invented = CHECKLIST_ITEMS.filter(
      (i) => !seed.some((s) => s.text === i.text && s.section === i.source.section),
    );
    expect(invented).toEqual([]);
    expect(new Set(CHECKLIST_ITEMS.map((i) => i.id)).size).toBe(CHECKLIST_ITEMS.length);
    expect(CHECKLIST_ITEMS.every((i) => i.source.guide === ROUTINE_GUIDE)).toBe(true);
  });

  it('meets every check with an activity that exists, that its workflow calls, and a finding key the code produces', () => {
    const activities = sources('activities');
    const code = `${activities}\n${sources('workflows')}\n${sources('domain')}`;
    const problems: string[] = [];
    for (const s of CHECKLISTS) {
      for (const item of s.items) {
        if (!('check' in item.means)) continue;
        const kinds = item.means.by ? [item.means.by] : s.workflows;
        for (const ref of item.means.check) {
          if (!new RegExp(`async ${ref.activity}\\(`).test(activities))
            problems.push(`${item.id}: no activity ${ref.activity}`);
          if (!code.includes(`'${ref.finding}'`)) problems.push(`${item.id}: no code produces finding ${ref.finding}`);
        }
        // Any one of the findings meets the item: each workflow must call at least one of their activities.
        for (const kind of kinds) {
          if (!item.means.check.some((ref) => workflowText(kind).includes(`${ref.activity}(`)))
            problems.push(`${item.id}: ${kind} calls none of ${item.means.check.map((r) => r.activity).join(', ')}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives every workflow of the calendar its checklist, and a run of the weekly window the pre-, during- and post-maintenance items', () => {
    // The seed's calendar, by its headings.
    const daily = ['dailyHealthCheck', 'eveningStatus'];
    const weekly = [
      'weeklySystemReview',
      'weeklySecurityReview',
      'weeklyPerformanceReview',
      'weeklyDatabaseMaintenance',
    ];
    const monthlyAndLonger = ['monthlyAudit', 'monthlyApplicationMaintenance', 'quarterlyReview', 'annualUpgrade'];
    for (const kind of [...daily, ...weekly, ...monthlyAndLonger, 'emergencyMaintenance']) {
      expect(checklistFor(kind).length, kind).toBeGreaterThan(0);
    }
    const window = checklistFor('weeklyDatabaseMaintenance').map((i) => i.id.split('.')[0]);
    expect(new Set(window)).toEqual(new Set(['pre', 'during', 'post', 'success']));
    expect(checklistFor('storageCleanup')).toEqual([]);
  });

  it('refuses a role mapping for an unknown role or a bad name, and takes a good one', () => {
    expect(ChecklistRolesSchema.safeParse({ 'release-manager': ['ann'] }).success).toBe(false);
    expect(ChecklistRolesSchema.safeParse({ 'on-call-engineer': ['ann smith'] }).success).toBe(false);
    expect(ChecklistRolesSchema.safeParse({ 'on-call-engineer': [] }).success).toBe(false);
    expect(ChecklistRolesSchema.parse({ 'on-call-engineer': ['ann', 'bob'] })).toEqual({
      'on-call-engineer': ['ann', 'bob'],
    });
  });
});

describe("a run's report accounts for every item", () => {
  const finding = (check: string, status: CheckResult['status']): CheckResult => ({
    check,
    target: 't',
    status,
    detail: '',
  });

  it('shows each check with its finding, each task as awaiting its owner, and the items nothing measured', () => {
    const account = accountChecklist('dailyHealthCheck', [
      finding('http', 'ok'),
      finding('http', 'warn'),
      finding('disk', 'critical'),
      finding('tls', 'ok'),
      finding('backup', 'skipped'),
    ])!;
    const byId = Object.fromEntries(account.items.map((i) => [i.id, i]));
    expect(account.items.map((i) => i.text)).toEqual(checklistFor('dailyHealthCheck').map((i) => i.text));
    expect(byId['morning.availability']).toMatchObject({
      state: 'warn',
      detail: expect.stringContaining('1 ok, 1 warn'),
    });
    expect(byId['morning.disk']).toMatchObject({ state: 'critical' });
    expect(byId['morning.monitoring']).toMatchObject({
      state: 'not-measured',
      detail: expect.stringMatching(/^no monitoring \/ monitoring.rules \/ .* finding in this run$/),
    });
    // A finding that only says why nothing was measured does not count as checked.
    expect(byId['morning.backup']).toMatchObject({ state: 'skipped' });
    expect(byId['morning.security-scan']).toMatchObject({
      state: 'awaiting-sign-off',
      detail: expect.stringMatching(/^awaiting sign-off by security-engineer \(backup on-call-engineer\)/),
    });
    expect(account).toMatchObject({ checked: 3, openTasks: 1, status: 'open' });
  });

  it('counts a signed-off task as done, and is complete only when nothing is open', () => {
    const kind = 'dailyHealthCheck';
    const all = checklistFor(kind).flatMap((i) =>
      'check' in i.means ? i.means.check.map((r) => finding(r.finding, 'ok')) : [],
    );
    const open = accountChecklist(kind, all)!;
    expect(open).toMatchObject({ status: 'open', openTasks: 1 });
    const done = accountChecklist(kind, all, [
      { item: 'morning.security-scan', by: 'ann', at: '2026-11-29T08:10:00Z', comment: 'scan clean' },
    ])!;
    expect(done).toMatchObject({ status: 'complete', openTasks: 0 });
    expect(done.items.find((i) => i.id === 'morning.security-scan')).toMatchObject({
      state: 'signed-off',
      detail: 'signed off by ann at 2026-11-29T08:10:00Z: scan clean',
    });
  });

  it('never reads plain "ok" while tasks wait, in the label, the Markdown and the Slack post', () => {
    const checklist = accountChecklist('quarterlyReview', [])!;
    expect(checklist.openTasks).toBe(18);
    const report: RunReport = {
      workflowId: 'q-1',
      runId: 'r',
      kind: 'quarterlyReview',
      target: 'maintenance-program',
      outcome: 'ok',
      startedAt: '',
      finishedAt: '',
      summary: 's',
      checks: [],
      steps: [],
      approvals: [],
      checklist,
    };
    expect(outcomeLabel(report)).toBe('ok, 18 task(s) awaiting sign-off');
    expect(outcomeLabel({ ...report, checklist: undefined })).toBe('ok');
    expect(reportMarkdown(report)).toContain(
      '| quarter-security.pentest: Conduct penetration testing | awaiting-sign-off |',
    );
    const slack = JSON.stringify(reportSlackMessage(report));
    expect(slack).toContain('awaiting sign-off');
    expect(slack).toContain('quarter-security.pentest');
  });

  it('says which items another workflow meets instead of calling them unmeasured', () => {
    const item = accountChecklist('weeklySystemReview', [])!.items.find((i) => i.id === 'monday-db.temp-tables');
    expect(item).toMatchObject({ state: 'elsewhere', detail: expect.stringContaining('weeklyDatabaseMaintenance') });
  });
});
