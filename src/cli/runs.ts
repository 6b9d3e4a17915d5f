// `maint runs`: run history from maintenance_runs.
import { InvalidArgumentError, type Command } from 'commander';
import { OUTCOMES } from '../../domain/run.js';
import { withoutUrls } from '../../domain/text.js';
import { createPool } from '../clients.js';
import { createLogger } from '../logger.js';
import { listRuns } from '../maintenance-runs.js';
import { CliError, isoDate, positiveInt, table, type CliIo } from './common.js';

function outcome(value: string): string {
  if (!(OUTCOMES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`'${value}' is not one of ${OUTCOMES.join(', ')}`);
  return value;
}

export function registerRunsCommand(program: Command, io: CliIo): void {
  const { json } = io;
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
      }) => {
        const pool = createPool(io.config().reportDatabaseUrl, createLogger('silent'), 'maint-cli');
        try {
          const rows = await listRuns(pool, opts).catch((err: { code?: string; message: string }) => {
            if (err.code === '42P01') return [];
            // The database's own words can quote the query or the connection; say what failed instead.
            throw new CliError(
              `cannot read maintenance_runs${err.code ? ` (PostgreSQL error ${err.code})` : `: ${withoutUrls(err.message).slice(0, 200)}`}`,
            );
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
        } finally {
          await pool.end();
        }
      },
    );
}
