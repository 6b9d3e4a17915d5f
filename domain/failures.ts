import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';

// Every failure type this system raises, in one place: workflows, activities, the CLI and the
// tests match on these names. Whether a retry may help is a property of the type, so the factory
// sets `nonRetryable` and no call site has to remember it.

/** A retry cannot help: bad input, missing configuration, refused by policy, a deadline passed. */
const PERMANENT = [
  'InvalidInput',
  'NotConfigured',
  'MissingTool',
  // Database and backups
  'ArchiveSchemaMismatch',
  'BackupDirectoryUnusable',
  'PgbackrestStanzaUnusable',
  'VacuumSkipped',
  // HTTP
  'CacheClearRejected',
  // Kubernetes
  'DeploymentNotFound',
  'ContainerNotFound',
  'RevisionNotFound',
  'RolloutFailed',
  'RolloutTimeout',
  'NodeNotFound',
  'NodeNotCordoned',
  'NodeNotReady',
  'DrainRefused',
  'DrainTimeout',
  'UpdateHookRejected',
  /** A node job (update, cleanup, reboot) failed, passed its deadline, or left no verdict in its log. */
  'NodeJobFailed',
  // Workflow checkpoints
  'HealthCheckFailed',
  'PreMaintenanceCheckFailed',
  'PostMaintenanceCheckFailed',
  'NoCluster',
  'CheckpointTimeout',
  'UpdateTimeout',
  /** A blocking Alertmanager alert fired (refused at once, or still firing after the wait). */
  'AlertsFiring',
  'AlertmanagerRefused',
  // Container registries
  'RegistryRefused',
] as const;

/** A retry may help: a flapping service, a slow WAL archive, a full disk someone clears. */
const TRANSIENT = [
  'BackupFailed',
  'PgbackrestFailed',
  'WalNotArchived',
  'CacheClearUnreachable',
  'CacheClearFailed',
  'AlertmanagerUnavailable',
  'RegistryUnavailable',
  /** An archive cancelled between batches: expected, and the next run continues where it stopped. */
  'Cancelled',
] as const;

/** Expected outcomes, not errors: logged and counted as benign by the SDK and the server. */
const BENIGN: ReadonlySet<string> = new Set<FailureType>(['Cancelled']);

/** A whole run that failed, `<workflow type>Failed` (e.g. `annualUpgradeFailed`): never retried. */
export type RunFailedType = `${string}Failed`;
export const runFailedType = (kind: string): RunFailedType => `${kind}Failed`;

export type FailureType = (typeof PERMANENT)[number] | (typeof TRANSIENT)[number];
export const FailureType = Object.fromEntries([...PERMANENT, ...TRANSIENT].map((t) => [t, t])) as {
  readonly [T in FailureType]: T;
};

const RETRYABLE: ReadonlySet<string> = new Set<string>(TRANSIENT);

/** The one way to raise a failure: typed, non-retryable unless its type is transient. */
export function failure(
  type: FailureType | RunFailedType,
  message: string,
  extra: { details?: unknown; cause?: Error } = {},
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !RETRYABLE.has(type),
    details: extra.details === undefined ? undefined : [extra.details],
    cause: extra.cause,
    category: BENIGN.has(type) ? ApplicationFailureCategory.BENIGN : undefined,
  });
}

/** Whether `err` is an application failure of type `type`. */
export function isFailure(err: unknown, type: FailureType): err is ApplicationFailure {
  return err instanceof ApplicationFailure && err.type === type;
}

/**
 * The innermost cause's message: an activity failure says "Activity task failed", its cause
 * says why.
 */
export function innermostMessage(err: unknown): string {
  let e = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
