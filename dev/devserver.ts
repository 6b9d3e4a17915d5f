import { spawn, type ChildProcess } from 'node:child_process';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../domain/run.js';
import { isExecutable } from '../src/executables.js';

/** The CLI version we build when no `temporal` is installed (later tags cannot be go-installed). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export function temporalCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'trixtech-maintenance', `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/** `$TEMPORAL_CLI`, then `temporal` on PATH, then our cached build (scripts/bootstrap.sh makes it). */
export function findTemporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.TEMPORAL_CLI,
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'temporal')),
    temporalCachePath(env),
  ].filter((p): p is string => Boolean(p));
  const found = candidates.find(isExecutable);
  if (!found)
    throw new Error(
      `no temporal binary: set TEMPORAL_CLI, put temporal on PATH, or run scripts/bootstrap.sh to build ${temporalCachePath(env)}`,
    );
  return found;
}

/**
 * Dynamic config the dev server starts with; the same values as deploy/temporal/dynamicconfig.yaml
 * (docker-compose.yml, npm run chaos), so what runs here is what production runs.
 */
export const SERVER_DYNAMIC_CONFIG = {
  // Activities scheduled by a workflow task go straight back to the worker that completed it,
  // skipping a matching round trip per activity.
  'system.enableActivityEagerExecution': true,
  // How often a history shard may read its new transfer tasks (a workflow task after each
  // activity is one). At the default 20 per second a shard kept busy dispatches each workflow task
  // up to 50 ms late: ten sequential activities took 550 ms instead of about 200 ms.
  'history.transferProcessorMaxPollRPS': 1000,
} as const;

export interface DevServerOptions {
  port: number;
  uiPort?: number;
  /** SQLite file that keeps history across restarts; in memory when absent. */
  dbFilename?: string;
  headless?: boolean;
  binary?: string;
  logLevel?: string;
  /** Where the server's output goes: a file descriptor, the parent's stdio, or nowhere (default). */
  output?: number | 'inherit' | 'ignore';
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` with our search attributes registered, and waits until it answers. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const binary = options.binary ?? findTemporalBinary();
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-level',
    options.logLevel ?? 'warn',
    ...Object.values(SEARCH_ATTRIBUTES).flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
    // The server settings production runs with (deploy/temporal/dynamicconfig.yaml, README: Production).
    ...Object.entries(SERVER_DYNAMIC_CONFIG).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
  ];
  if (options.dbFilename)
    args.push(
      '--db-filename',
      options.dbFilename,
      // SQLite's default rollback journal syncs the disk several times per transaction: ten
      // sequential activities took 1.2 s on a file against 0.2 s in memory. A write-ahead log
      // synced at checkpoints keeps every commit across a crash of the server (not of the machine).
      ...['journal_mode=WAL', 'synchronous=NORMAL', 'busy_timeout=5000'].flatMap((p) => ['--sqlite-pragma', p]),
    );
  if (options.headless || options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort));

  const output = options.output ?? 'ignore';
  const child = spawn(binary, args, { stdio: ['ignore', output, output] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Imported once the server is starting: loading the client takes a moment the server's own start hides.
  const { Connection } = await import('@temporalio/client');
  const address = `127.0.0.1:${options.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const code = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 250))]);
    if (code !== 'wait')
      throw new Error(`temporal server start-dev exited with code ${code} (is port ${options.port} taken?)`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: '1 second' });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal dev server did not answer on ${address} within 60 s`);
      }
    }
  }
  return {
    address,
    uiUrl: options.uiPort !== undefined && !options.headless ? `http://127.0.0.1:${options.uiPort}` : undefined,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
