import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { listRuns } from '../../activities/reports.js';
import { SCHEDULES } from '../../schedules/definitions.js';
import { applySchedules, ensureSearchAttributes } from '../../schedules/apply.js';
import { createPool } from '../clients.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { OUTCOMES, type RunStatus } from '../domain/run.js';
import { createLogger } from '../logger.js';
import { connectClient } from '../temporal.js';
import { statusQuery } from '../../workflows/lib/definitions.js';
import { planHash } from '../domain/approval-proof.js';
import { EMERGENCY_ACTION_KINDS, describeAction, emergencyPlan, EmergencyInput } from '../domain/emergency.js';
import { signStatement } from '../signing.js';
import { withoutUrls } from '../domain/text.js';
import { clipText } from '../domain/input-errors.js';
import { describePlan, describeVerdict, loadSigningKey, pendingApproval, sendDecision, temporalInput } from '../decisions.js';
import { registerBackupCommands } from './backup.js';
import { registerChecklistCommands } from './checklist.js';
import { PLANNABLE, planFor, type Plannable } from './plan.js';

/** A user-facing failure: printed as one line, exit code 1. */
class CliError extends Error {}

function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

function knownSchedule(id: string): string {
  if (!SCHEDULES.some((s) => s.id === id)) {
    throw new CliError(`unknown schedule '${id}' (known: ${SCHEDULES.map((s) => s.id).join(', ')})`);
  }
  return id;
}

/** A real calendar date (UTC), optionally with a time: `new Date` alone rolls 2026-02-31 over to March 3. */
function isoDate(value: string): string {
  const shown = value.slice(0, 40);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(value);
  const d = new Date(m && !m[4] ? `${value}T00:00:00Z` : value);
  const [year, month, day] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  const real = m && !Number.isNaN(d.getTime()) && new Date(Date.UTC(year!, month! - 1, day!)).getUTCDate() === day && month! >= 1 && month! <= 12;
  if (!real) throw new InvalidArgumentError(`'${shown}' is not a date (use e.g. 2026-11-22 or 2026-11-22T08:00:00Z)`);
  return d.toISOString();
}

const MAX_LIMIT = 10_000;

function positiveInt(value: string): number {
  const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new InvalidArgumentError(`'${value.slice(0, 40)}' is not a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

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

function approverIdentity(value: string | undefined, flag = '--as'): string {
  const who = value ?? process.env.MAINT_APPROVER ?? process.env.USER;
  if (!who) throw new CliError(`say who you are: ${flag} <name> (or set MAINT_APPROVER)`);
  return who;
}

function outcome(value: string): string {
  if (!(OUTCOMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`'${value}' is not one of ${OUTCOMES.join(', ')}`);
  return value;
}

export function buildProgram(io: { out: (s: string) => void; config: () => Config }) {
  let client: Client | undefined;
  const temporal = async () => (client ??= await connectClient(io.config()));
  const json = (v: unknown) => io.out(JSON.stringify(v, null, 2));

  const program = new Command('maint')
    .description('Operate TRIXTECH maintenance workflows on Temporal')
    .showHelpAfterError(false)
    .exitOverride();

  const schedules = program.command('schedules').description('the maintenance calendar as Temporal Schedules');
  schedules
    .command('apply')
    .description('create, update and delete our schedules so the server matches schedules/definitions.ts')
    .option('--dry-run', 'show what would change, change nothing')
    .action(async (opts: { dryRun?: boolean }) => {
      const config = io.config();
      const c = await temporal();
      if (!opts.dryRun) await ensureSearchAttributes(c, config.temporal.namespace);
      const results = await applySchedules(c, SCHEDULES, { taskQueue: config.temporal.taskQueue, dryRun: opts.dryRun });
      io.out(table(results.map((r) => ({ schedule: r.id, action: opts.dryRun ? `would be ${r.action}` : r.action }))));
    });
  schedules
    .command('list')
    .description('our schedules with their next fire times')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const c = await temporal();
      const rows = [];
      for (const s of SCHEDULES) {
        try {
          const d = await c.schedule.getHandle(s.id).describe();
          rows.push({
            schedule: s.id, workflow: s.workflowType, paused: d.state.paused,
            next: d.info.nextActionTimes[0]?.toISOString() ?? '', lastRun: d.info.recentActions.at(-1)?.takenAt.toISOString() ?? '',
            note: d.state.note ?? '',
          });
        } catch (err) {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
          rows.push({ schedule: s.id, workflow: s.workflowType, paused: '', next: 'not applied (run: maint schedules apply)', lastRun: '', note: '' });
        }
      }
      if (opts.json) json(rows);
      else io.out(table(rows));
    });
  for (const verb of ['pause', 'unpause'] as const) {
    schedules
      .command(`${verb} <scheduleId>`)
      .description(`${verb} a schedule; the note is kept on the schedule and shown in the UI`)
      .option('--note <text>', 'why', `${verb}d with maint`)
      .action(async (id: string, opts: { note: string }) => {
        const scheduleId = knownSchedule(id); // bad input is refused before connecting anywhere
        const handle = (await temporal()).schedule.getHandle(scheduleId);
        await (verb === 'pause' ? handle.pause(opts.note) : handle.unpause(opts.note)).catch(notFound(`schedule '${id}' is not on the server (run: maint schedules apply)`));
        io.out(`${id}: ${verb}d`);
      });
  }
  schedules
    .command('trigger <scheduleId>')
    .description("start the schedule's workflow now, as if it fired")
    .action(async (id: string) => {
      const scheduleId = knownSchedule(id); // bad input is refused before connecting anywhere
        const handle = (await temporal()).schedule.getHandle(scheduleId);
      await handle.trigger().catch(notFound(`schedule '${id}' is not on the server (run: maint schedules apply)`));
      io.out(`${id}: triggered`);
    });

  program
    .command('emergency')
    .description('emergency maintenance (seed: assess, approve, execute, verify, post-mortem)')
    .command('start')
    .description('request emergency maintenance; nothing runs until it is approved')
    .requiredOption('--reason <text>', 'what is wrong')
    .requiredOption('--severity <level>', 'critical | high | medium | low')
    .requiredOption('--action <spec>', `repeatable: "<kind> key=value ..." (kinds: ${EMERGENCY_ACTION_KINDS.join(', ')})`, parseAction, [])
    .option('--as <name>', 'who asks (default: MAINT_APPROVER or USER), proven by your key; cannot approve it')
    .option('--key <file>', 'your Ed25519 private key (default: MAINT_SIGNING_KEY or ~/.ssh/id_ed25519)')
    .option('--print', 'print the signed `temporal workflow start` command instead of starting it')
    .action(async (opts: { reason: string; severity: string; action: unknown[]; as?: string; key?: string; print?: boolean }) => {
      const config = io.config();
      const parsed = EmergencyInput.safeParse({ reason: opts.reason, severity: opts.severity, requestedBy: approverIdentity(opts.as), actions: opts.action });
      if (!parsed.success) {
        throw new CliError(`invalid emergency request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      }
      const key = loadSigningKey(opts.key);
      const workflowId = `emergency-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${Math.random().toString(36).slice(2, 6)}`;
      const { severity, reason, requestedBy, actions } = parsed.data;
      const requestProof = signStatement({
        decision: 'request', workflowId, planHash: planHash(emergencyPlan(actions)), principal: requestedBy, via: opts.print ? 'temporal-cli' : 'cli',
      }, key);
      const input = { reason, severity, requestedBy, actions, requestProof };
      if (opts.print) {
        io.out(`temporal workflow start --type emergencyMaintenance --task-queue ${config.temporal.taskQueue} --workflow-id ${workflowId} --input ${temporalInput(input)}`);
        return;
      }
      await (await temporal()).workflow.start('emergencyMaintenance', {
        taskQueue: config.temporal.taskQueue, workflowId, args: [input],
        // Shown in the UI's run list before the workflow has said anything itself.
        staticSummary: `Emergency (${severity}) requested by ${requestedBy}: ${reason}`,
        staticDetails: actions.map((a) => `- ${describeAction(a)}`).join('\n'),
      });
      io.out(`${workflowId} started; waiting for approval`);
      io.out(`${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`);
    });

  for (const decision of ['approve', 'reject'] as const) {
    const command = program
      .command(`${decision} <workflowId>`)
      .description(decision === 'approve'
        ? 'approve a run waiting for approval, signed with your key; prints whether it counted'
        : 'reject a run waiting for approval, signed with your key; nothing it planned is executed')
      .option('--as <approver>', 'your approver name (default: MAINT_APPROVER or USER), proven by your key')
      .option('--key <file>', 'your Ed25519 private key (default: MAINT_SIGNING_KEY or ~/.ssh/id_ed25519)')
      .option('--print', 'print the signed `temporal workflow update execute` command instead of sending it');
    if (decision === 'approve') command.option('--comment <text>', 'recorded with the decision');
    else command.requiredOption('--reason <text>', 'why (recorded with the decision)');
    command.action(async (workflowId: string, opts: { as?: string; key?: string; print?: boolean; comment?: string; reason?: string }) => {
      const principal = approverIdentity(opts.as);
      const key = loadSigningKey(opts.key);
      const client = await temporal();
      const { runId, approval } = await pendingApproval(client, workflowId);
      const proof = signStatement({
        decision, workflowId, runId, planHash: approval.planHash, principal, comment: opts.comment ?? opts.reason, via: opts.print ? 'temporal-cli' : 'cli',
      }, key);
      if (opts.print) {
        io.out(`temporal workflow update execute --workflow-id ${workflowId} --run-id ${runId} --name decide --input ${temporalInput({ proof })}`);
        return;
      }
      for (const line of describePlan(approval)) io.out(line);
      const verdict = await sendDecision(client, workflowId, runId, proof);
      io.out(`${workflowId}: ${describeVerdict(verdict)}`);
      if (verdict.verdict === 'ignored') throw new CliError(`${decision === 'approve' ? 'approval' : 'rejection'} not counted: ${verdict.reason}`);
    });
  }

  program
    .command('status <workflowId>')
    .description("a run's phase, steps, approvals and what it waits for")
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--json', 'machine-readable output')
    .action(async (workflowId: string, opts: { runId?: string; json?: boolean }) => {
      const handle = (await temporal()).workflow.getHandle(workflowId, opts.runId);
      const description = await handle.describe().catch(notFound(`no workflow '${workflowId}' in namespace ${io.config().temporal.namespace}`));
      let status: RunStatus | undefined;
      try {
        status = await handle.query(statusQuery);
      } catch {
        // Closed runs whose worker is gone cannot answer queries; the memo still has the report.
      }
      const memo = description.memo ?? {};
      // A run whose workflow task keeps failing looks RUNNING but is stuck until someone acts.
      const taskAttempt = description.raw.pendingWorkflowTask?.attempt ?? 0;
      const stuck = description.status.name === 'RUNNING' && taskAttempt > 1
        ? `stuck: its workflow task has failed ${taskAttempt - 1} time(s); see the worker log or the run's history (WorkflowTaskFailed)` : undefined;
      const result = { workflowId, runId: description.runId, type: description.type, state: description.status.name, status, summary: memo.summary, outcome: memo.outcome, stuck };
      if (opts.json) json(result);
      else io.out(`${workflowId} (${description.type}) ${description.status.name}${status ? `, phase ${status.phase}` : ''}`);
      if (stuck) throw new CliError(`${workflowId} is ${stuck}`);
      if (opts.json) return;
      if (memo.summary) io.out(`summary: ${String(memo.summary)}`);
      if (status) {
        if (status.waitingFor) io.out(`waiting for: ${status.waitingFor}`);
        if (status.approval) for (const line of describePlan(status.approval)) io.out(line);
        io.out(table(status.steps.map((s) => ({ step: s.name, outcome: s.outcome, detail: s.detail ?? '' }))));
        for (const a of status.approvals) {
          const proof = a.proof ? `, signed by ${a.proof.signer === 'bridge' ? 'the bridge' : 'own key'} ${a.proof.key}` : '';
          io.out(`${a.decision} by ${a.approver} via ${a.via ?? '?'} at ${a.at}${proof}${a.comment ? `: ${a.comment}` : ''}${a.ignored ? ` (not counted: ${a.ignored})` : ''}`);
        }
      }
    });

  program
    .command('plan <workflowType>')
    .description('dry run: what the next run would do against the current targets; changes nothing')
    .option('--input <json>', 'the workflow input (needed for emergencyMaintenance)')
    .action(async (type: string, opts: { input?: string }) => {
      if (!(PLANNABLE as readonly string[]).includes(type)) throw new CliError(`cannot plan '${type}' (known: ${PLANNABLE.join(', ')})`);
      let input: unknown;
      try {
        input = opts.input ? JSON.parse(opts.input) : undefined;
      } catch {
        throw new CliError('--input is not valid JSON');
      }
      const c = await temporal().catch(() => undefined);
      const lines = await planFor(type as Plannable, io.config(), c, input).catch((err: Error) => {
        throw new CliError(err.message);
      });
      io.out(`plan for ${type} (nothing was changed):`);
      for (const line of lines) io.out(`  ${line}`);
    });

  program
    .command('runs')
    .description('run history from maintenance_runs')
    .option('--kind <workflowType>', 'only this maintenance kind')
    .option('--outcome <outcome>', `only this outcome (${OUTCOMES.join(', ')})`, outcome)
    .option('--since <date>', 'started at or after', isoDate)
    .option('--until <date>', 'started before', isoDate)
    .option('--limit <n>', 'at most this many rows', positiveInt, 20)
    .option('--json', 'machine-readable output')
    .action(async (opts: { kind?: string; outcome?: string; since?: string; until?: string; limit: number; json?: boolean }) => {
      const pool = createPool(io.config().reportDatabaseUrl, createLogger('silent'), 'maint-cli');
      try {
        const rows = await listRuns(pool, opts).catch((err: { code?: string; message: string }) => {
          if (err.code === '42P01') return [];
          // The database's own words can quote the query or the connection; say what failed instead.
          throw new CliError(`cannot read maintenance_runs${err.code ? ` (PostgreSQL error ${err.code})` : `: ${withoutUrls(err.message).slice(0, 200)}`}`);
        });
        if (opts.json) json(rows);
        else io.out(table(rows.map((r) => ({ started: r.startedAt, kind: r.kind, outcome: r.outcome, workflowId: r.workflowId, summary: r.summary.slice(0, 80) }))));
      } finally {
        await pool.end();
      }
    });

  registerBackupCommands(program, io);
  registerChecklistCommands(program, io, temporal);

  return { program, close: async () => client?.connection.close() };
}

function notFound(message: string) {
  return (err: unknown): never => {
    if (err instanceof ScheduleNotFoundError || err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5) throw new CliError(message);
    throw err;
  };
}

/** Runs the CLI; returns the exit code. Every failure is one line on stderr. */
export async function runCli(argv: string[], out: (s: string) => void = (s) => console.log(s), err: (s: string) => void = (s) => console.error(s)): Promise<number> {
  let config: Config | undefined;
  const { program, close } = buildProgram({ out, config: () => (config ??= loadConfig()) });
  // Subcommands copied the output settings when they were made: set them on every one. Commander's
  // errors quote the argument as given, so long words are clipped.
  const route = (c: Command): void => {
    c.configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd().replace(/\S{100,}/g, (w) => clipText(w, 60))) });
    c.commands.forEach(route);
  };
  route(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ConfigError) {
      err(`maint: ${e.message}`);
      return 2;
    }
    const message = (e as Error).message?.split('\n')[0] ?? String(e);
    err(`maint: ${message}`);
    return 1;
  } finally {
    await close().catch(() => undefined);
  }
}
