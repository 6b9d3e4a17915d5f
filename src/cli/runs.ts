// `maint runs` and `maint report`: run history from maintenance_runs, and one stored run's report
// with its checklist's sign-offs as they are now.
import { InvalidArgumentError, type Command } from 'commander';
import { accountChecklist, checklistFor, describeAccount, type SignOff } from '../../domain/checklists.js';
import { formatValue, outcomeLabel } from '../../domain/format.js';
import { OUTCOMES, type RunReport } from '../../domain/run.js';
import { withoutUrls } from '../../domain/text.js';
import { listSignOffs, storedReport } from '../checklist-signoffs.js';
import { listRuns } from '../maintenance-runs.js';
import { CliError, isoDate, positiveInt, table, withReportPool, type CliIo } from './common.js';

function outcome(value: string): string {
  if (!(OUTCOMES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`'${value}' is not one of ${OUTCOMES.join(', ')}`);
  return value;
}

/** The database's own words can quote the query or the connection; say what failed instead. */
function unreadable(err: { code?: string; message: string }): never {
  throw new CliError(
    `cannot read maintenance_runs${err.code ? ` (PostgreSQL error ${err.code})` : `: ${withoutUrls(err.message).slice(0, 200)}`}`,
  );
}

/** One checklist task as the report shows it: who answered it, how, when and why, or that nobody did. */
function taskLine(id: string, signOff: SignOff | undefined, owner: string, backup: string): string {
  if (!signOff) return `${id}: not signed off (owner ${owner}, backup ${backup})`;
  const via = signOff.via ? ` via ${signOff.via}` : '';
  const said = signOff.comment ? `: ${signOff.comment}` : '';
  return `${id}: ${signOff.status ?? 'done'} by ${signOff.by}${via} at ${signOff.at}${said}`;
}

/**
 * A stored report as people read it: what the run found and reported when it finished (never
 * rewritten), and its checklist joined with the sign-offs recorded so far, including those that
 * came after the report.
 */
function describeReport(report: RunReport, signOffs: SignOff[]): string[] {
  const seconds = (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000;
  const lines = [
    `${report.workflowId}  ${report.kind} on ${report.target}, run ${report.runId}`,
    `started ${report.startedAt}, finished ${report.finishedAt} (${seconds.toFixed(1)} s)`,
    `outcome when it finished: ${outcomeLabel(report)}`,
    `summary: ${report.summary}`,
  ];
  if (report.checks.length > 0)
    lines.push(
      'findings:',
      ...table(
        report.checks.map((c) => ({
          status: c.status,
          check: c.check,
          target: c.target,
          value: formatValue(c),
          detail: c.detail.slice(0, 120),
        })),
      )
        .split('\n')
        .map((l) => `  ${l}`),
    );
  const now = accountChecklist(report.kind, report.checks, signOffs);
  if (!now) return lines;
  lines.push(
    `checklist now: ${describeAccount(now)} (outcome now: ${outcomeLabel({ outcome: report.outcome, checklist: now })})`,
  );
  const items = new Map(checklistFor(report.kind).map((i) => [i.id, i]));
  for (const a of now.items) {
    const item = items.get(a.id)!;
    const detail =
      'task' in item.means
        ? taskLine(
            a.id,
            signOffs.find((s) => s.item === a.id),
            item.owner,
            item.backup,
          )
        : `${a.id}: ${a.detail}`;
    lines.push(`  ${a.state.padEnd(17)} ${detail}`);
  }
  return lines;
}

export function registerRunsCommand(program: Command, io: CliIo): void {
  const { json } = io;
  const withPool = withReportPool(io);
  program
    .command('runs')
    .description('run history from maintenance_runs')
    .option('--kind <workflowType>', 'only this maintenance kind')
    .option('--outcome <outcome>', `only this outcome (${OUTCOMES.join(', ')})`, outcome)
    .option('--since <date>', 'started at or after', isoDate)
    .option('--until <date>', 'started before', isoDate)
    .option('--limit <n>', 'at most this many rows', positiveInt, 20)
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        kind?: string;
        outcome?: string;
        since?: string;
        until?: string;
        limit: number;
        json?: boolean;
      }) =>
        withPool(async (pool) => {
          const rows = await listRuns(pool, opts).catch((err: { code?: string; message: string }) => {
            if (err.code === '42P01') return [];
            return unreadable(err);
          });
          if (opts.json) json(rows);
          else
            io.out(
              table(
                rows.map((r) => ({
                  started: r.startedAt,
                  kind: r.kind,
                  outcome: r.outcome,
                  workflowId: r.workflowId,
                  summary: r.summary.slice(0, 80),
                })),
              ),
            );
        }),
    );

  program
    .command('report <workflowId>')
    .description(
      "a stored run's report: its findings, and every checklist item with who signed it off, how and when, or that nobody did",
    )
    .option('--run-id <runId>', 'a specific run (default: the latest stored)')
    .option('--json', 'machine-readable output: the stored report as it was, the sign-offs, the checklist now')
    .action(async (workflowId: string, opts: { runId?: string; json?: boolean }) =>
      withPool(async (pool) => {
        const report = await storedReport(pool, workflowId, opts.runId).catch(unreadable);
        if (!report)
          throw new CliError(
            `no stored report of '${workflowId.slice(0, 200)}'${opts.runId ? ` run ${opts.runId.slice(0, 100)}` : ''} (a run stores it when it ends; see maint runs or maint status)`,
          );
        const signOffs = await listSignOffs(pool, report.workflowId, report.runId);
        if (opts.json)
          json({
            report,
            signOffs,
            checklistNow: accountChecklist(report.kind, report.checks, signOffs),
          });
        else for (const line of describeReport(report, signOffs)) io.out(line);
      }),
    );
}
