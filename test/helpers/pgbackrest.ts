import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.js';

const exec = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface ScratchCluster {
  port: number;
  root: string;
  stanza: string;
  configFile: string;
  /** OS user pgbackrest and the servers run as when tests run as root. */
  runAs?: string;
  /** postgresql://postgres@127.0.0.1:<port>/<database> */
  url(database: string): string;
  /** Runs pgbackrest with our config as the cluster's user. */
  pgbackrest(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the test's own (initdb on a free port, its own socket directory,
 * archive_mode=on pushing WAL to a pgBackRest repository under the same scratch directory) with a
 * stanza created. The machine's cluster on 5432 is never touched.
 */
export async function startScratchCluster(prefix = 'maint-pgbr'): Promise<ScratchCluster> {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const runAs = process.getuid?.() === 0 ? 'postgres' : undefined;
  const as = (bin: string, args: string[]) =>
    runAs ? exec('runuser', ['-u', runAs, '--', bin, ...args]) : exec(bin, args);
  const port = await freePort();
  const stanza = `test${port}`;
  const data = join(root, 'data');
  for (const d of ['repo', 'log', 'spool', 'lock', 'sock']) mkdirSync(join(root, d));
  const configFile = join(root, 'pgbackrest.conf');
  writeFileSync(
    configFile,
    [
      '[global]',
      `repo1-path=${root}/repo`,
      'repo1-retention-full=2',
      `log-path=${root}/log`,
      `spool-path=${root}/spool`,
      `lock-path=${root}/lock`,
      'start-fast=y',
      'log-level-file=off',
      '',
      `[${stanza}]`,
      `pg1-path=${data}`,
      `pg1-port=${port}`,
      `pg1-socket-path=${root}/sock`,
      '',
    ].join('\n'),
  );
  if (runAs) {
    const uid = Number((await exec('id', ['-u', runAs])).stdout.trim());
    const gid = Number((await exec('id', ['-g', runAs])).stdout.trim());
    for (const p of [root, configFile, ...['repo', 'log', 'spool', 'lock', 'sock'].map((d) => join(root, d))])
      chownSync(p, uid, gid);
  }
  await as(join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      '',
      `port=${port}`,
      "listen_addresses='127.0.0.1'",
      `unix_socket_directories='${root}/sock'`,
      'archive_mode=on',
      'wal_level=replica',
      'fsync=off',
      `archive_command='pgbackrest --config=${configFile} --stanza=${stanza} archive-push %p'`,
      '',
    ].join('\n'),
  );
  await as(join(PG_BIN, 'pg_ctl'), ['-D', data, '-l', join(root, 'server.log'), '-w', 'start']);
  const pgbackrest = async (...args: string[]) =>
    (await as('pgbackrest', [`--config=${configFile}`, `--stanza=${stanza}`, ...args])).stdout;
  await pgbackrest('stanza-create');
  return {
    port,
    root,
    stanza,
    configFile,
    runAs,
    pgbackrest,
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    async stop() {
      await as(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
