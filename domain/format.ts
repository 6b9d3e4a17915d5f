import type { CheckResult, CheckStatus } from './checks.js';
import { describeDue, type ChecklistItem, type SignOffStatus } from './checklists.js';
import type { RunReport } from './run.js';
import { escapeSlack as e } from './text.js';

// Human renderings of a run report: one-line summary for the memo, Block Kit for Slack,
// Markdown for the Temporal UI's "current details". Pure functions, used inside workflows.
// In Slack messages every value from a run or its input goes through `e` (Slack's escaping):
// only our own links and emphasis are markup.

const ICON: Record<string, string> = {
  ok: ':white_check_mark:',
  warn: ':warning:',
  critical: ':red_circle:',
  skipped: ':white_circle:',
  failed: ':x:',
  running: ':hourglass:',
  rejected: ':no_entry:',
  cancelled: ':heavy_minus_sign:',
};

export function formatValue(r: CheckResult): string {
  return r.value === undefined ? '' : `${r.value}${r.unit ? ` ${r.unit}` : ''}`;
}

export function summarizeChecks(checks: readonly CheckResult[]): string {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, critical: 0, skipped: 0 };
  for (const c of checks) counts[c.status] += 1;
  return `${counts.critical} critical, ${counts.warn} warn, ${counts.ok} ok, ${counts.skipped} skipped`;
}

/** The outcome as people read it: never a plain "ok" while checklist tasks wait for a person. */
export function outcomeLabel(report: Pick<RunReport, 'outcome' | 'checklist'>): string {
  const open = report.checklist?.openTasks ?? 0;
  return open > 0 ? `${report.outcome}, ${open} task(s) awaiting sign-off` : report.outcome;
}

export function reportMarkdown(report: RunReport): string {
  const lines = [`**${report.kind}** on ${report.target}: **${outcomeLabel(report)}**`, '', report.summary];
  if (report.checks.length > 0) {
    lines.push('', '| check | target | status | value | detail |', '|---|---|---|---|---|');
    for (const c of report.checks)
      lines.push(`| ${c.check} | ${c.target} | ${c.status} | ${formatValue(c)} | ${c.detail.replace(/\|/g, '/')} |`);
  }
  if (report.checklist) {
    lines.push('', '| checklist item | state | detail |', '|---|---|---|');
    for (const i of report.checklist.items)
      lines.push(`| ${i.id}: ${i.text} | ${i.state} | ${i.detail.replace(/\|/g, '/')} |`);
  }
  return lines.join('\n');
}

export function reportSlackMessage(report: RunReport, uiUrl?: string) {
  const notable = report.checks.filter((c) => c.status === 'critical' || c.status === 'warn');
  const text = `${ICON[report.outcome] ?? ''} ${report.kind} ${outcomeLabel(report)}: ${e(report.summary)}`;
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: `${report.kind}: ${outcomeLabel(report)}`.slice(0, 150) } },
    { type: 'section', text: { type: 'mrkdwn', text: e(report.summary) } },
  ];
  const open = report.checklist?.items.filter((i) => i.state === 'awaiting-sign-off') ?? [];
  if (open.length > 0) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Awaiting sign-off* (\`maint signoff ${e(report.workflowId)} <item>\`):\n${open.map((i) => `• \`${e(i.id)}\` ${e(i.text)}: ${e(i.detail)}`).join('\n')}`.slice(
          0,
          2900,
        ),
      },
    });
  }
  if (notable.length > 0) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: notable
          .map((c) => `${ICON[c.status]} *${e(c.check)}* ${e(c.target)}: ${e(c.detail)}`)
          .join('\n')
          .slice(0, 2900),
      },
    });
  }
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: `workflow \`${e(report.workflowId)}\`${uiUrl ? ` · <${uiUrl}|open in Temporal UI>` : ''}`,
      },
    ],
  });
  return { text, blocks };
}

export function alertSlackMessage(report: RunReport) {
  const critical = report.checks.filter((c) => c.status === 'critical');
  const text =
    report.outcome === 'critical'
      ? `:rotating_light: ${report.kind} found ${critical.length} critical issue(s): ${critical.map((c) => `${e(c.check)} ${e(c.target)}`).join(', ')}`
      : `:rotating_light: ${report.kind} ${report.outcome}: ${e(report.summary)}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: critical
            .map((c) => `• *${e(c.check)}* ${e(c.target)}: ${e(c.detail)}`)
            .join('\n')
            .slice(0, 2900),
        },
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `workflow \`${e(report.workflowId)}\`` }] },
    ],
  };
}

export interface ApprovalRequest {
  workflowId: string;
  kind: string;
  title: string;
  /** Exactly what will be done, one line per action. */
  plan: string[];
  approvers: string[];
  required: number;
  requester?: string;
  /** sha256 of the plan: what a signed decision binds. */
  planHash?: string;
  deadline: string;
  uiUrl?: string;
}

/** The approval request: the plan, who may decide, and Approve / Reject buttons carrying the workflow id. */
/**
 * What an approval button carries: the run and, when the request has one, the hash of the plan it
 * showed, so a click on a request whose plan was amended since (the annual plan) decides nothing.
 */
const approvalButtonValue = (r: { workflowId: string; planHash?: string }) =>
  r.planHash ? JSON.stringify({ workflowId: r.workflowId, planHash: r.planHash }) : r.workflowId;

/**
 * An approval button's value: a bare workflow id (requests posted before plan hashes), or the run
 * with its plan hash; undefined when it is neither.
 */
export function parseApprovalButton(value: string): { workflowId: string; planHash?: string } | undefined {
  if (!value.startsWith('{')) return { workflowId: value };
  try {
    const v = JSON.parse(value) as { workflowId?: unknown; planHash?: unknown };
    if (typeof v.workflowId === 'string' && typeof v.planHash === 'string')
      return { workflowId: v.workflowId, planHash: v.planHash };
  } catch {
    // not JSON: no button of ours
  }
  return undefined;
}

export function approvalRequestMessage(r: ApprovalRequest, escalation = false) {
  const who = `${r.required > 1 ? `${r.required} distinct approvers` : 'one approver'} from ${e(r.approvers.join(', '))}${r.requester ? ` (not the requester, ${e(r.requester)})` : ''}`;
  const text = `${escalation ? ':rotating_light: ESCALATION: still waiting for approval. ' : ''}${r.kind} needs approval: ${e(r.title)}`;
  return {
    text,
    blocks: [
      {
        type: 'header',
        text: { type: 'plain_text', text: `${escalation ? 'Escalation: ' : ''}${r.kind} needs approval`.slice(0, 150) },
      },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `*${e(r.title)}*\n${r.plan.map((p) => `• ${e(p)}`).join('\n')}`.slice(0, 2900) },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `Needs ${who} before ${r.deadline}. Workflow \`${e(r.workflowId)}\`${r.planHash ? `, plan sha256 \`${r.planHash.slice(0, 16)}\`` : ''}${r.uiUrl ? ` · <${r.uiUrl}|open in Temporal UI>` : ''}`,
          },
        ],
      },
      {
        type: 'actions',
        block_id: 'approval',
        elements: [
          {
            type: 'button',
            action_id: 'approve',
            style: 'primary',
            text: { type: 'plain_text', text: 'Approve' },
            value: approvalButtonValue(r),
          },
          {
            type: 'button',
            action_id: 'reject',
            style: 'danger',
            text: { type: 'plain_text', text: 'Reject' },
            value: approvalButtonValue(r),
          },
        ],
      },
    ],
  };
}

/** What a task button carries back to the bridge: the run and the item (the button says the status). */
export interface TaskRef {
  workflowId: string;
  runId: string;
  item: string;
}

export const TASK_BUTTONS: Record<SignOffStatus, { actionId: string; label: string }> = {
  done: { actionId: 'task-done', label: 'Done' },
  blocked: { actionId: 'task-blocked', label: 'Blocked' },
  'not-applicable': { actionId: 'task-not-applicable', label: 'Not applicable' },
};
/** The block and element ids of the reason box, read back from the click's state. */
export const TASK_REASON = { blockId: 'reason', actionId: 'reason' } as const;

/**
 * One open checklist task as a Slack message: `lead` (ours, already formatted: whom it is for and
 * why now), the item, a reason box and Done / Blocked / Not applicable buttons for the bridge.
 */
export function taskSlackMessage(
  run: { workflowId: string; runId: string; kind: string },
  item: ChecklistItem,
  lead: string,
) {
  const what = 'task' in item.means ? item.means.task : item.text;
  const value = JSON.stringify({ workflowId: run.workflowId, runId: run.runId, item: item.id } satisfies TaskRef);
  const body = `${lead}\n*${e(item.text)}* (\`${e(item.id)}\` of ${e(run.kind)} \`${e(run.workflowId)}\`)\n${e(what)}; due ${describeDue(item.due)}`;
  return {
    text: `${lead} ${e(item.id)} of ${e(run.kind)} ${e(run.workflowId)}: ${e(item.text)}`.slice(0, 3000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: body.slice(0, 3000) } },
      {
        type: 'input',
        block_id: TASK_REASON.blockId,
        optional: true,
        label: { type: 'plain_text', text: 'Reason (needed for Blocked and Not applicable)' },
        element: { type: 'plain_text_input', action_id: TASK_REASON.actionId, max_length: 1000 },
      },
      {
        type: 'actions',
        block_id: 'task',
        elements: Object.values(TASK_BUTTONS).map((b) => ({
          type: 'button',
          action_id: b.actionId,
          text: { type: 'plain_text', text: b.label },
          value,
          ...(b.actionId === 'task-done' ? { style: 'primary' } : {}),
        })),
      },
    ],
  };
}
