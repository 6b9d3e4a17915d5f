import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScratchPostgres } from '../../dev/scratch-postgres.js';
import { freePort } from './net.js';

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
  const port = await freePort();
  const stanza = `test${port}`;
  const stores = ['repo', 'log', 'spool', 'lock'].map((d) => join(root, d));
  for (const d of stores) mkdirSync(d);
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
      `pg1-path=${root}/data`,
      `pg1-port=${port}`,
      `pg1-socket-path=${root}/sock`,
      '',
    ].join('\n'),
  );
  const server = await startScratchPostgres(root, {
    port,
    ownedPaths: [configFile, ...stores],
    settings: [
      'archive_mode=on',
      'wal_level=replica',
      `archive_command='pgbackrest --config=${configFile} --stanza=${stanza} archive-push %p'`,
    ],
  });
  const pgbackrest = async (...args: string[]) =>
    (await server.as('pgbackrest', [`--config=${configFile}`, `--stanza=${stanza}`, ...args])).stdout;
  await pgbackrest('stanza-create');
  return {
    port,
    root,
    stanza,
    configFile,
    runAs: server.runAs,
    pgbackrest,
    url: server.url,
    async stop() {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
