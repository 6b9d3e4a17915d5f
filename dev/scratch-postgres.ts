import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../src/net.js';

const exec = promisify(execFile);

/** The server binaries of the newest PostgreSQL Debian installed (initdb is not on PATH there). */
function newestPgBin(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0])
    throw new Error('no PostgreSQL server under /usr/lib/postgresql (scripts/bootstrap.sh installs it)');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

export interface ScratchPostgres {
  port: number;
  /** OS user the server (and `as`) runs as when we run as root: initdb refuses root. */
  runAs?: string;
  url(database: string): string;
  /** Runs `command` (a server binary's name, or a program on PATH) as the cluster's user. */
  as(command: string, args: string[]): Promise<{ stdout: string }>;
  /** pg_ctl restart -m fast: every session is terminated, the server comes back on the same port. */
  restart(): Promise<void>;
  /**
   * SIGKILL to the server and every process of it at once, as a crash does (WAL not yet written is
   * lost), then a start on the same port, which recovers from the WAL.
   */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of our own in `root` (data/, sock/, server.log): initdb on a free port (or
 * `port`), loopback only, fsync off, plus `settings`; the machine's cluster on 5432 is never
 * touched. `ownedPaths` are handed to the cluster's user with `root` (files it must write).
 */
export async function startScratchPostgres(
  root: string,
  { port = 0, settings = [], ownedPaths = [] }: { port?: number; settings?: string[]; ownedPaths?: string[] } = {},
): Promise<ScratchPostgres> {
  const bin = newestPgBin();
  const runAs = process.getuid?.() === 0 ? 'postgres' : undefined;
  const as = (command: string, args: string[]) => {
    const path = readdirSync(bin).includes(command) ? join(bin, command) : command;
    return runAs ? exec('runuser', ['-u', runAs, '--', path, ...args]) : exec(path, args);
  };
  const data = join(root, 'data');
  const sock = join(root, 'sock');
  mkdirSync(sock, { recursive: true });
  if (runAs) {
    const uid = Number((await exec('id', ['-u', runAs])).stdout.trim());
    const gid = Number((await exec('id', ['-g', runAs])).stdout.trim());
    for (const p of [root, sock, ...ownedPaths]) chownSync(p, uid, gid);
  }
  const listen = port || (await freePort());
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      '',
      `port=${listen}`,
      "listen_addresses='127.0.0.1'",
      `unix_socket_directories='${sock}'`,
      'fsync=off',
      ...settings,
      '',
    ].join('\n'),
  );
  const log = join(root, 'server.log');
  await as('pg_ctl', ['-D', data, '-l', log, '-w', 'start']);
  return {
    port: listen,
    runAs,
    as,
    url: (database) => `postgresql://postgres@127.0.0.1:${listen}/${database}`,
    restart: async () => {
      await as('pg_ctl', ['-D', data, '-l', log, '-m', 'fast', '-w', 'restart']);
    },
    crash: async () => {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // Stopped first, so it starts no process between the listing of its children and the kill.
      process.kill(postmaster, 'SIGSTOP');
      const children = (await exec('pgrep', ['-P', String(postmaster)]).catch(() => ({ stdout: '' }))).stdout
        .split('\n')
        .filter(Boolean)
        .map(Number);
      const all = [postmaster, ...children];
      for (const pid of all) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // a backend that had just exited
        }
      }
      // Reaped too: PostgreSQL's checks of its lock files take a zombie for a running server.
      const alive = (pid: number) => existsSync(`/proc/${pid}`);
      const deadline = Date.now() + 30_000;
      while (all.some(alive)) {
        if (Date.now() > deadline)
          throw new Error(`PostgreSQL processes ${all.filter(alive).join(', ')} outlived SIGKILL`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await as('pg_ctl', ['-D', data, '-l', log, '-w', 'start']);
    },
    stop: async () => {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    },
  };
}
