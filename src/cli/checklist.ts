// `maint checklist | tasks | signoff`: the seed checklists as the product maps them, what a run
// left to people, and a signed sign-off of one of its tasks.
import type pg from 'pg';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import {
  listSignOffs,
  needsReason,
  recordSignOff,
  SignOffError,
  signersFor,
  signOffPlan,
  storedReport,
  taskItem,
  type RunRef,
} from '../checklist-signoffs.js';
import type { Config } from '../config/schema.js';
import { withReportPool, type CliIo } from './common.js';
import {
  accountChecklist,
  CHECKLISTS,
  describeAccount,
  describeDue,
  SIGN_OFF_STATUSES,
  type ChecklistItem,
  type SignOffStatus,
} from '../../domain/checklists.js';
import { planHash } from '../../domain/approval-proof.js';
import type { CheckResult } from '../../domain/checks.js';
import { loadSigningKey } from '../decisions.js';
import { signStatement } from '../signing.js';

function means(item: ChecklistItem): string {
  if ('task' in item.means) return `task: ${item.means.task}`;
  const refs = item.means.check.map((r) => `${r.activity} -> ${r.finding}`).join(' | ');
  return `check: ${refs}${item.means.by ? ` (in ${item.means.by} runs)` : ''}${item.means.limit ? ` [covers ${item.means.limit}]` : ''}`;
}

function who(item: ChecklistItem, config: Config): string {
  const roles = config.checklistRoles;
  const people = (role: string) => roles[role as keyof typeof roles]?.join(', ') || 'nobody mapped';
  return `owner ${item.owner} (${people(item.owner)}), backup ${item.backup} (${people(item.backup)})`;
}

export function registerChecklistCommands(program: Command, io: CliIo): void {
  const withPool = withReportPool(io);

  /** The run a sign-off is for: its stored report, else (still running) what Temporal says it is. */
  const resolveRun = async (pool: pg.Pool, workflowId: string): Promise<RunRef & { checks?: CheckResult[] }> => {
    const report = await storedReport(pool, workflowId);
    if (report) return { workflowId, runId: report.runId, kind: report.kind, checks: report.checks };
    const d = await (
      await io.temporal()
    ).workflow
      .getHandle(workflowId)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError)
          throw new SignOffError(
            `no run '${workflowId.slice(0, 200)}': neither in maintenance_runs nor on the Temporal server`,
          );
        throw err;
      });
    return { workflowId, runId: d.runId, kind: d.type };
  };

  program
    .command('checklist [workflowType]')
    .description(
      'every seed checklist item: its source, how it is met (check or sign-off task), who owns it, when it is due',
    )
    .option('--json', 'machine-readable output')
    .action((kind: string | undefined, opts: { json?: boolean }) => {
      const config = io.config();
      const sections = kind ? CHECKLISTS.filter((s) => s.workflows.includes(kind)) : CHECKLISTS;
      if (kind && sections.length === 0) {
        throw new SignOffError(
          `no checklist for '${kind.slice(0, 80)}' (workflows with one: ${[...new Set(CHECKLISTS.flatMap((s) => s.workflows))].join(', ')})`,
        );
      }
      if (opts.json) {
        io.out(
          JSON.stringify(
            sections.map((s) => ({
              ...s,
              items: s.items.map((i) => ({ ...i, people: signersFor(i, config.checklistRoles).people })),
            })),
            null,
            2,
          ),
        );
        return;
      }
      for (const s of sections) {
        io.out(`${s.section} [${s.workflows.join(', ')}]`);
        for (const i of s.items) {
          io.out(`  ${i.id}: ${i.text}`);
          io.out(`    ${means(i)}`);
          io.out(`    ${who(i, config)}; due ${describeDue(i.due)}`);
        }
      }
      const items = sections.flatMap((s) => s.items);
      const checks = items.filter((i) => 'check' in i.means).length;
      io.out(`${items.length} items: ${checks} met by checks, ${items.length - checks} by sign-off tasks`);
    });

  program
    .command('tasks <workflowId>')
    .description("a run's checklist: each item's finding or who must still sign it off")
    .option('--json', 'machine-readable output')
    .action(async (workflowId: string, opts: { json?: boolean }) =>
      withPool(async (pool) => {
        const run = await resolveRun(pool, workflowId);
        const account = accountChecklist(
          run.kind,
          run.checks ?? [],
          await listSignOffs(pool, run.workflowId, run.runId),
        );
        if (!account) throw new SignOffError(`${run.kind} has no checklist`);
        if (opts.json) {
          io.out(JSON.stringify({ ...run, checks: undefined, checklist: account }, null, 2));
          return;
        }
        io.out(
          `${workflowId} (${run.kind}, run ${run.runId})${run.checks ? '' : ': still running, its findings are not in yet'}`,
        );
        io.out(describeAccount(account));
        for (const i of account.items) io.out(`  ${i.state.padEnd(17)} ${i.id}: ${i.detail}`);
      }),
    );

  program
    .command('signoff <workflowId> <item>')
    .description("sign off one task of a run's checklist, signed with your key (see `maint tasks <workflowId>`)")
    .option('--as <name>', 'who you are (default: MAINT_APPROVER or USER), proven by your key')
    .option('--key <file>', 'your Ed25519 private key (default: MAINT_SIGNING_KEY or ~/.ssh/id_ed25519)')
    .option('--status <status>', `${SIGN_OFF_STATUSES.join(' | ')}; blocked and not-applicable need --reason`, 'done')
    .option('--reason <text>', 'why the task is blocked or not applicable')
    .option('--comment <text>', 'what was done, or a link to the evidence')
    .action(
      async (
        workflowId: string,
        itemId: string,
        opts: { as?: string; key?: string; status: string; reason?: string; comment?: string },
      ) =>
        withPool(async (pool) => {
          const principal = opts.as ?? process.env.MAINT_APPROVER ?? process.env.USER;
          if (!principal) throw new SignOffError('say who you are: --as <name> (or set MAINT_APPROVER)');
          if (!(SIGN_OFF_STATUSES as readonly string[]).includes(opts.status))
            throw new SignOffError(
              `--status '${opts.status.slice(0, 40)}' is not one of ${SIGN_OFF_STATUSES.join(', ')}`,
            );
          const status = opts.status as SignOffStatus;
          const said = opts.reason ?? opts.comment;
          if (needsReason(status, said))
            throw new SignOffError(`a ${status} sign-off needs a reason: --reason <why>; nothing was recorded`);
          const config = io.config();
          const run = await resolveRun(pool, workflowId);
          const item = taskItem(run.kind, itemId);
          const proof = signStatement(
            {
              decision: 'approve',
              workflowId,
              runId: run.runId,
              planHash: planHash(signOffPlan(run.kind, item, status)),
              principal,
              comment: said,
              via: 'cli',
            },
            loadSigningKey(opts.key),
          );
          const signed = await recordSignOff(
            pool,
            { approvals: config.approvals, roles: config.checklistRoles },
            run,
            item.id,
            proof,
            status,
          );
          io.out(
            status === 'done'
              ? `${item.id} signed off by ${signed.by} at ${signed.at}: ${item.text}`
              : `${item.id} marked ${status} by ${signed.by} at ${signed.at}: ${item.text} (reason: ${said})`,
          );
        }),
    );
}
