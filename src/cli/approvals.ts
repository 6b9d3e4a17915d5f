// `maint emergency start`, `maint approve`, `maint reject`: requests and decisions, signed with the operator's key.
import { InvalidArgumentError, type Command } from 'commander';
import { planHash } from '../../domain/approval-proof.js';
import {
  EMERGENCY_ACTION_KINDS,
  describeAction,
  emergencyPlan,
  emergencyTarget,
  EmergencyInput,
} from '../../domain/emergency.js';
import { runningSearchAttributes } from '../../domain/run.js';
import {
  describePlan,
  describeVerdict,
  loadSigningKey,
  pendingApproval,
  sendDecision,
  temporalInput,
} from '../decisions.js';
import { signStatement } from '../signing.js';
import { approverIdentity, CliError, type CliIo } from './common.js';

/** `kind key=value ...` → an action object; values that look like numbers or booleans become them. */
export function parseAction(spec: string, previous: unknown[] = []): unknown[] {
  const [kind, ...pairs] = spec.trim().split(/\s+/);
  if (!kind || !EMERGENCY_ACTION_KINDS.includes(kind as never)) {
    throw new InvalidArgumentError(`unknown action kind '${kind ?? ''}' (known: ${EMERGENCY_ACTION_KINDS.join(', ')})`);
  }
  const action: Record<string, unknown> = { kind };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`'${pair}' is not key=value`);
    const raw = pair.slice(eq + 1);
    action[pair.slice(0, eq)] = /^\d+$/.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
  }
  return [...previous, action];
}

export function registerApprovalCommands(program: Command, io: CliIo): void {
  const { temporal } = io;
  program
    .command('emergency')
    .description('emergency maintenance (seed: assess, approve, execute, verify, post-mortem)')
    .command('start')
    .description('request emergency maintenance; nothing runs until it is approved')
    .requiredOption('--reason <text>', 'what is wrong')
    .requiredOption('--severity <level>', 'critical | high | medium | low')
    .requiredOption(
      '--action <spec>',
      `repeatable: "<kind> key=value ..." (kinds: ${EMERGENCY_ACTION_KINDS.join(', ')})`,
      parseAction,
      [],
    )
    .option('--as <name>', 'who asks (default: MAINT_APPROVER or USER), proven by your key; cannot approve it')
    .option('--key <file>', 'your Ed25519 private key (default: MAINT_SIGNING_KEY or ~/.ssh/id_ed25519)')
    .option('--print', 'print the signed `temporal workflow start` command instead of starting it')
    .action(
      async (opts: {
        reason: string;
        severity: string;
        action: unknown[];
        as?: string;
        key?: string;
        print?: boolean;
      }) => {
        const config = io.config();
        const parsed = EmergencyInput.safeParse({
          reason: opts.reason,
          severity: opts.severity,
          requestedBy: approverIdentity(opts.as),
          actions: opts.action,
        });
        if (!parsed.success) {
          throw new CliError(
            `invalid emergency request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          );
        }
        const key = loadSigningKey(opts.key);
        const workflowId = `emergency-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${Math.random().toString(36).slice(2, 6)}`;
        const { severity, reason, requestedBy, actions } = parsed.data;
        const requestProof = signStatement(
          {
            decision: 'request',
            workflowId,
            planHash: planHash(emergencyPlan(actions)),
            principal: requestedBy,
            via: opts.print ? 'temporal-cli' : 'cli',
          },
          key,
        );
        const input = { reason, severity, requestedBy, actions, requestProof };
        if (opts.print) {
          io.out(
            `temporal workflow start --type emergencyMaintenance --task-queue ${config.temporal.taskQueue} --workflow-id ${workflowId} --input ${temporalInput(input)}`,
          );
          return;
        }
        await (
          await temporal()
        ).workflow.start('emergencyMaintenance', {
          taskQueue: config.temporal.taskQueue,
          workflowId,
          args: [input],
          // Shown in the UI's run list before the workflow has said anything itself.
          staticSummary: `Emergency (${severity}) requested by ${requestedBy}: ${reason}`,
          staticDetails: actions.map((a) => `- ${describeAction(a)}`).join('\n'),
          // Findable by kind and target while it waits for a worker, as the run would set them itself.
          typedSearchAttributes: runningSearchAttributes('emergencyMaintenance', emergencyTarget(actions)),
        });
        io.out(`${workflowId} started; waiting for approval`);
        io.out(
          `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`,
        );
      },
    );

  for (const decision of ['approve', 'reject'] as const) {
    const command = program
      .command(`${decision} <workflowId>`)
      .description(
        decision === 'approve'
          ? 'approve a run waiting for approval, signed with your key; prints whether it counted'
          : 'reject a run waiting for approval, signed with your key; nothing it planned is executed',
      )
      .option('--as <approver>', 'your approver name (default: MAINT_APPROVER or USER), proven by your key')
      .option('--key <file>', 'your Ed25519 private key (default: MAINT_SIGNING_KEY or ~/.ssh/id_ed25519)')
      .option('--print', 'print the signed `temporal workflow update execute` command instead of sending it');
    if (decision === 'approve') command.option('--comment <text>', 'recorded with the decision');
    else command.requiredOption('--reason <text>', 'why (recorded with the decision)');
    command.action(
      async (
        workflowId: string,
        opts: { as?: string; key?: string; print?: boolean; comment?: string; reason?: string },
      ) => {
        const principal = approverIdentity(opts.as);
        const key = loadSigningKey(opts.key);
        const client = await temporal();
        const { runId, approval } = await pendingApproval(client, workflowId);
        const proof = signStatement(
          {
            decision,
            workflowId,
            runId,
            planHash: approval.planHash,
            principal,
            comment: opts.comment ?? opts.reason,
            via: opts.print ? 'temporal-cli' : 'cli',
          },
          key,
        );
        if (opts.print) {
          io.out(
            `temporal workflow update execute --workflow-id ${workflowId} --run-id ${runId} --name decide --input ${temporalInput({ proof })}`,
          );
          return;
        }
        for (const line of describePlan(approval)) io.out(line);
        const verdict = await sendDecision(client, workflowId, runId, proof);
        io.out(`${workflowId}: ${describeVerdict(verdict)}`);
        if (verdict.verdict === 'ignored')
          throw new CliError(`${decision === 'approve' ? 'approval' : 'rejection'} not counted: ${verdict.reason}`);
      },
    );
  }
}
