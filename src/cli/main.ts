import { Command, CommanderError } from 'commander';
import type { Client } from '@temporalio/client';
import { clipText } from '../../domain/input-errors.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { connectClient } from '../temporal.js';
import { registerApprovalCommands } from './approvals.js';
import { registerBackupCommands } from './backup.js';
import type { CliIo } from './common.js';
import { registerPlanCommand } from './plan.js';
import { registerRunsCommand } from './runs.js';
import { registerScheduleCommands } from './schedules.js';
import { registerStatusCommand } from './status.js';
import { registerChecklistCommands } from './checklist.js';

// The `maint` program: one file per command group, each registered here.

export function buildProgram(io: { out: (s: string) => void; config: () => Config }) {
  let client: Client | undefined;
  const cli: CliIo = {
    ...io,
    temporal: async () => (client ??= await connectClient(io.config())),
    json: (v: unknown) => io.out(JSON.stringify(v, null, 2)),
  };

  const program = new Command('maint')
    .description('Operate TRIXTECH maintenance workflows on Temporal')
    .showHelpAfterError(false)
    .exitOverride();

  registerScheduleCommands(program, cli);
  registerApprovalCommands(program, cli);
  registerStatusCommand(program, cli);
  registerPlanCommand(program, cli);
  registerRunsCommand(program, cli);
  registerBackupCommands(program, cli);
  registerChecklistCommands(program, cli);

  return { program, close: async () => client?.connection.close() };
}

/** Runs the CLI; returns the exit code. Every failure is one line on stderr. */
export async function runCli(
  argv: string[],
  out: (s: string) => void = (s) => console.log(s),
  err: (s: string) => void = (s) => console.error(s),
): Promise<number> {
  let config: Config | undefined;
  const { program, close } = buildProgram({ out, config: () => (config ??= loadConfig()) });
  // Subcommands copied the output settings when they were made: set them on every one. Commander's
  // errors quote the argument as given, so long words are clipped.
  const route = (c: Command): void => {
    c.configureOutput({
      writeOut: (s) => out(s.trimEnd()),
      writeErr: (s) => err(s.trimEnd().replace(/\S{100,}/g, (w) => clipText(w, 60))),
    });
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
