// `maint status <workflowId>`: a run's phase, steps, approvals and what it waits for.
import type { Command } from 'commander';
import type { RunStatus } from '../../domain/run.js';
import { statusQuery } from '../../workflows/lib/definitions.js';
import { describePlan } from '../decisions.js';
import { CliError, notFound, table, type CliIo } from './common.js';

export function registerStatusCommand(program: Command, io: CliIo): void {
  const { temporal, json } = io;
  program
    .command('status <workflowId>')
    .description("a run's phase, steps, approvals and what it waits for")
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--json', 'machine-readable output')
    .action(async (workflowId: string, opts: { runId?: string; json?: boolean }) => {
      const handle = (await temporal()).workflow.getHandle(workflowId, opts.runId);
      const description = await handle
        .describe()
        .catch(notFound(`no workflow '${workflowId}' in namespace ${io.config().temporal.namespace}`));
      let status: RunStatus | undefined;
      try {
        status = await handle.query(statusQuery);
      } catch {
        // Closed runs whose worker is gone cannot answer queries; the memo still has the report.
      }
      const memo = description.memo ?? {};
      // A run whose workflow task keeps failing looks RUNNING but is stuck until someone acts.
      const taskAttempt = description.raw.pendingWorkflowTask?.attempt ?? 0;
      const stuck =
        description.status.name === 'RUNNING' && taskAttempt > 1
          ? `stuck: its workflow task has failed ${taskAttempt - 1} time(s); see the worker log or the run's history (WorkflowTaskFailed)`
          : undefined;
      const result = {
        workflowId,
        runId: description.runId,
        type: description.type,
        state: description.status.name,
        status,
        summary: memo.summary,
        outcome: memo.outcome,
        stuck,
      };
      if (opts.json) json(result);
      else
        io.out(
          `${workflowId} (${description.type}) ${description.status.name}${status ? `, phase ${status.phase}` : ''}`,
        );
      if (stuck) throw new CliError(`${workflowId} is ${stuck}`);
      if (opts.json) return;
      if (memo.summary) io.out(`summary: ${String(memo.summary)}`);
      if (status) {
        if (status.waitingFor) io.out(`waiting for: ${status.waitingFor}`);
        if (status.approval) for (const line of describePlan(status.approval)) io.out(line);
        io.out(table(status.steps.map((s) => ({ step: s.name, outcome: s.outcome, detail: s.detail ?? '' }))));
        for (const a of status.approvals) {
          const proof = a.proof
            ? `, signed by ${a.proof.signer === 'bridge' ? 'the bridge' : 'own key'} ${a.proof.key}`
            : '';
          io.out(
            `${a.decision} by ${a.approver} via ${a.via ?? '?'} at ${a.at}${proof}${a.comment ? `: ${a.comment}` : ''}${a.ignored ? ` (not counted: ${a.ignored})` : ''}`,
          );
        }
      }
    });
}
