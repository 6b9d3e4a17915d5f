// `maint backup list | verify | restore-test`: the backup module called directly from the CLI
// (the same activities the workflows use), for an operator who wants proof now.
import { InvalidArgumentError, type Command } from 'commander';
import { createActivities } from '../../activities/index.js';
import { createClients } from '../clients.js';
import type { Config } from '../config/schema.js';
import { BACKUP_LEVELS, formatBytes, type BackupLevel, type BackupVerification } from '../../domain/backup.js';
import { createLogger } from '../logger.js';

function level(value: string): BackupLevel {
  if (!(BACKUP_LEVELS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`'${value}' is not one of ${BACKUP_LEVELS.join(', ')}`);
  return value as BackupLevel;
}

/** A verification as operators read it; a failed one makes the command exit 1. */
function describe(v: BackupVerification): string[] {
  const lines = [`${v.status === 'ok' ? 'OK' : 'FAILED'}: level ${v.level} (required ${v.required})`, `  ${v.detail}`];
  if (v.sha256) lines.push(`  sha256 ${v.sha256}`);
  for (const [l, ms] of Object.entries(v.timings ?? {})) lines.push(`  ${l}: ${ms} ms`);
  for (const m of v.mismatches ?? []) lines.push(`  mismatch ${m}`);
  return lines;
}

export class BackupCheckFailed extends Error {}

export function registerBackupCommands(program: Command, io: { out: (s: string) => void; config: () => Config }): void {
  const withActivities = async <T>(fn: (a: ReturnType<typeof createActivities>) => Promise<T>): Promise<T> => {
    const config = io.config();
    const clients = createClients(config, createLogger('silent'));
    try {
      return await fn(createActivities(clients, config));
    } finally {
      await clients.close();
    }
  };
  const report = (v: BackupVerification, asJson?: boolean) => {
    if (asJson) io.out(JSON.stringify(v, null, 2));
    else for (const l of describe(v)) io.out(l);
    if (v.status !== 'ok')
      throw new BackupCheckFailed(
        `backup ${v.file ?? ''} is not ${v.failedLevel ?? v.required}${v.status === 'missing' ? ': none found' : ''}`.replace(
          '  ',
          ' ',
        ),
      );
  };

  const backup = program.command('backup').description('database backups: list them, verify them, prove a restore');
  backup
    .command('list')
    .description('every dump in the backup directory, newest first, with whether it is intact')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const rows = await withActivities((a) => a.listBackups());
      if (opts.json) return io.out(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return io.out('(no backups)');
      for (const r of rows)
        io.out(
          `${r.level === 'intact' ? 'intact' : 'BROKEN'}  ${formatBytes(r.bytes).padStart(10)}  ${(Math.round(r.ageHours * 10) / 10).toString().padStart(6)} h  ${r.file}${r.level === 'intact' ? '' : `\n        ${r.detail}`}`,
        );
    });
  backup
    .command('verify [file]')
    .description(
      'verify a dump (default: the newest) to a level: intact (sha256 + size), readable (every byte read back), restored (scratch restore, row counts)',
    )
    .option('--level <level>', `one of ${BACKUP_LEVELS.join(', ')}`, level, 'readable' as BackupLevel)
    .option('--json', 'machine-readable output')
    .action(async (file: string | undefined, opts: { level: BackupLevel; json?: boolean }) => {
      report(await withActivities((a) => a.verifyBackup({ file, level: opts.level })), opts.json);
    });
  backup
    .command('restore-test [file]')
    .description(
      'restore a dump (default: the newest) into a scratch database, compare every table with the manifest, time it, drop it',
    )
    .option('--json', 'machine-readable output')
    .action(async (file: string | undefined, opts: { json?: boolean }) => {
      report(await withActivities((a) => a.restoreTestBackup({ file })), opts.json);
    });
}
