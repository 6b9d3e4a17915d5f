// `maint schedules apply | list | pause | unpause | trigger`: the maintenance calendar as Temporal Schedules.
import { ScheduleNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { applySchedules, ensureSearchAttributes, triggerSchedule } from '../../schedules/apply.js';
import { SCHEDULES } from '../../schedules/definitions.js';
import { CliError, notFound, table, type CliIo } from './common.js';

function knownSchedule(id: string): string {
  if (!SCHEDULES.some((s) => s.id === id)) {
    throw new CliError(`unknown schedule '${id}' (known: ${SCHEDULES.map((s) => s.id).join(', ')})`);
  }
  return id;
}

export function registerScheduleCommands(program: Command, io: CliIo): void {
  const { temporal, json } = io;
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
            schedule: s.id,
            workflow: s.workflowType,
            paused: d.state.paused,
            next: d.info.nextActionTimes[0]?.toISOString() ?? '',
            lastRun: d.info.recentActions.at(-1)?.takenAt.toISOString() ?? '',
            note: d.state.note ?? '',
          });
        } catch (err) {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
          rows.push({
            schedule: s.id,
            workflow: s.workflowType,
            paused: '',
            next: 'not applied (run: maint schedules apply)',
            lastRun: '',
            note: '',
          });
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
        await (verb === 'pause' ? handle.pause(opts.note) : handle.unpause(opts.note)).catch(
          notFound(`schedule '${id}' is not on the server (run: maint schedules apply)`),
        );
        io.out(`${id}: ${verb}d`);
      });
  }
  schedules
    .command('trigger <scheduleId>')
    .description("start the schedule's workflow now, as if it fired")
    .action(async (id: string) => {
      const scheduleId = knownSchedule(id); // bad input is refused before connecting anywhere
      const workflowId = await triggerSchedule(await temporal(), scheduleId).catch(
        notFound(`schedule '${id}' is not on the server (run: maint schedules apply)`),
      );
      io.out(`${id}: triggered${workflowId ? `, workflow ${workflowId}` : ''}`);
    });
}
