import { z } from 'zod';
import { Proof, type ApprovalPlan } from './approval-proof.js';
import { distinct, k8sLabelName, k8sObjectName } from './kubernetes-names.js';

// The emergency request (seed: "Emergency Maintenance Procedures"), validated once by the CLI and
// again by the workflow, so a bad action kind or target fails before anyone is asked to approve.

const k8sName = k8sObjectName;
const namespace = k8sLabelName.default('default');
/** A table name, optionally schema-qualified; quoted again where it is used. */
export const TableName = z
  .string()
  .max(127)
  .regex(
    /^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/,
    'expected a table name like bookings or public.bookings',
  );
export const ApproverName = z
  .string()
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._@-]*$/i, 'expected an approver name (letters, digits, ".", "_", "@", "-")');

export const EmergencyAction = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('drain-node'), node: k8sName, allowUnmanagedPods: z.boolean().default(false) }).strict(),
  z
    .object({
      kind: z.literal('rollback-deployment'),
      namespace,
      deployment: k8sName,
      revision: z
        .number()
        .int()
        .positive()
        .max(2 ** 31 - 1),
    })
    .strict(),
  z.object({ kind: z.literal('restart-deployment'), namespace, deployment: k8sName }).strict(),
  z
    .object({
      kind: z.literal('scale-deployment'),
      namespace,
      deployment: k8sName,
      replicas: z.number().int().min(0).max(100),
    })
    .strict(),
  z.object({ kind: z.literal('vacuum-table'), table: TableName }).strict(),
  z
    .object({
      kind: z.literal('cancel-runaway-queries'),
      olderThanSeconds: z
        .number()
        .int()
        .min(30)
        .max(7 * 86_400),
      terminate: z.boolean().default(false),
    })
    .strict(),
]);
export type EmergencyAction = z.output<typeof EmergencyAction>;
export const EMERGENCY_ACTION_KINDS = EmergencyAction.options.map((o) => o.shape.kind.value);

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
/** How long approval may take before escalation and before the request lapses, per severity (seed: approval within 15-30 min). */
export const APPROVAL_TIMING: Record<
  (typeof SEVERITIES)[number],
  { escalateAfterSeconds: number; timeoutSeconds: number }
> = {
  critical: { escalateAfterSeconds: 5 * 60, timeoutSeconds: 15 * 60 },
  high: { escalateAfterSeconds: 10 * 60, timeoutSeconds: 30 * 60 },
  medium: { escalateAfterSeconds: 30 * 60, timeoutSeconds: 2 * 3600 },
  low: { escalateAfterSeconds: 2 * 3600, timeoutSeconds: 8 * 3600 },
};

export const EmergencyInput = z
  .object({
    reason: z.string().trim().min(3).max(500),
    severity: z.enum(SEVERITIES),
    requestedBy: ApproverName,
    /** The requester's signed `request` statement for this workflow id and plan (`maint emergency start --as`). */
    requestProof: Proof.optional(),
    actions: z
      .array(EmergencyAction)
      .min(1)
      .max(20)
      .refine((a) => distinct(a, (x) => JSON.stringify(x)), 'the same action is listed twice'),
    /** Overrides of the severity's approval timing (tests use seconds). */
    approval: z
      .object({
        escalateAfterSeconds: z
          .number()
          .min(1)
          .max(24 * 3600),
        timeoutSeconds: z
          .number()
          .min(1)
          .max(24 * 3600),
      })
      .strict()
      .optional(),
    /** Seed: post-mortem within 24 hours. Seconds upward because the tests (and their stored histories) wait 1 s. */
    postMortemDelaySeconds: z
      .number()
      .min(1)
      .max(7 * 86_400)
      .default(24 * 3600),
  })
  .strict()
  .refine((i) => !i.approval || i.approval.escalateAfterSeconds < i.approval.timeoutSeconds, {
    message: 'escalateAfterSeconds must be less than timeoutSeconds',
    path: ['approval', 'escalateAfterSeconds'],
  });
export type EmergencyInput = z.input<typeof EmergencyInput>;

/** One line per action, as it appears in the approval request and the report. */
export function describeAction(a: EmergencyAction): string {
  switch (a.kind) {
    case 'drain-node':
      return `cordon and drain node ${a.node}${a.allowUnmanagedPods ? ' (unmanaged pods allowed)' : ''}`;
    case 'rollback-deployment':
      return `roll back deployment ${a.namespace}/${a.deployment} to revision ${a.revision}`;
    case 'restart-deployment':
      return `restart deployment ${a.namespace}/${a.deployment} (rolling)`;
    case 'scale-deployment':
      return `scale deployment ${a.namespace}/${a.deployment} to ${a.replicas} replicas`;
    case 'vacuum-table':
      return `VACUUM (ANALYZE) table ${a.table}`;
    case 'cancel-runaway-queries':
      return `${a.terminate ? 'terminate' : 'cancel'} queries running longer than ${a.olderThanSeconds} s`;
  }
}

/** What an emergency works on, as its search attribute shows it: the nodes and deployments named, or the database. */
export function emergencyTarget(actions: EmergencyAction[]): string {
  return [...new Set(actions.map((a) => ('node' in a ? a.node : 'deployment' in a ? a.deployment : 'database')))].join(
    ',',
  );
}

/** What an emergency's approvers approve, and its requester signs: the actions with their targets. */
export function emergencyPlan(actions: EmergencyAction[]): ApprovalPlan {
  return { kind: 'emergencyMaintenance', actions: actions.map(describeAction) };
}
