// The production-shaped stack `npm run chaos` breaks: a scratch PostgreSQL cluster of its own
// (Temporal's persistence and visibility, the booking database, the report store), the Temporal
// server built by scripts/build-temporal-server.sh on it, N product workers (src/worker.ts) and
// the approval bridge (src/bridge.ts), all on loopback. Every piece can be killed and restarted.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { freePort } from '../src/net.js';

const exec = promisify(execFile);
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Thrown by a waitFor check to stop waiting at once (a process it waits for has exited). */
export class GaveUp extends Error {}

export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 120_000,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch((err: Error) => {
          if (err instanceof GaveUp) throw err;
          return false;
        })
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs scripts/build-temporal-server.sh (builds once); returns the directory of the binaries and schema. */
export async function temporalServerBuild(): Promise<string> {
  const { stdout } = await exec('bash', [join(ROOT, 'scripts', 'build-temporal-server.sh')], { maxBuffer: 1 << 20 });
  return stdout.trim().split('\n').at(-1)!;
}

/**
 * The schema tool's steps, as docker-compose.yml's temporal-schema service runs them: create each
 * database, set up the base schema, then upgrade it through the versioned scripts.
 */
export async function setupTemporalSchema(build: string, pgPort: number): Promise<string[]> {
  const tool = join(build, 'temporal-sql-tool');
  const steps: string[] = [];
  for (const [db, dir] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pgPort), '-u', 'postgres', '--db', db];
    for (const args of [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', join(build, 'schema', 'postgresql', 'v12', dir, 'versioned')],
    ]) {
      await exec(tool, [...base, ...args]);
      steps.push(`${db}: ${args[0]}`);
    }
  }
  return steps;
}

export interface TemporalServer {
  address: string;
  /** SIGKILL, then start again on the same ports and database; resolves once the frontend answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createNetServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** The Temporal server (all four services, one process) on the scratch PostgreSQL, with deploy/temporal's configs. */
export async function startTemporalServer(build: string, dir: string, pgPort: number): Promise<TemporalServer> {
  const root = join(dir, 'temporal');
  mkdirSync(join(root, 'config'), { recursive: true });
  // The server stores membership ports as smallint: below 32768, where freePort's ephemeral ones are not.
  const names = [
    'FRONTEND_PORT',
    'FRONTEND_MEMBERSHIP_PORT',
    'FRONTEND_HTTP_PORT',
    'MATCHING_PORT',
    'MATCHING_MEMBERSHIP_PORT',
    'HISTORY_PORT',
    'HISTORY_MEMBERSHIP_PORT',
    'WORKER_PORT',
    'WORKER_MEMBERSHIP_PORT',
  ];
  const values: Record<string, string> = { PG_PORT: String(pgPort) };
  for (const n of names) values[n] = String(await freeLowPort());
  const template = readFileSync(join(ROOT, 'deploy', 'temporal', 'config.template.yaml'), 'utf8');
  writeFileSync(
    join(root, 'config', 'development.yaml'),
    template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => values[k]!),
  );
  copyFileSync(join(ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml'), join(root, 'dynamicconfig.yaml'));
  const address = `127.0.0.1:${values.FRONTEND_PORT}`;
  const log = openSync(join(root, 'server.log'), 'a');
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      join(build, 'temporal-server'),
      ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      { cwd: root, stdio: ['ignore', log, log] },
    );
    const current = child;
    await waitFor(
      `the Temporal server on ${address} (log: ${root}/server.log)`,
      async () => {
        if (current.exitCode !== null)
          throw new GaveUp(`the Temporal server exited with code ${current.exitCode}; see ${root}/server.log`);
        const c = await Connection.connect({ address, connectTimeout: '1 second' });
        try {
          await c.workflowService.getSystemInfo({});
          return true;
        } finally {
          await c.close();
        }
      },
      120_000,
      500,
    );
  };
  const kill = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    address,
    restart: async () => {
      await kill();
      await start();
    },
    stop: kill,
  };
}

/** Registers the namespace (a server on SQL starts with none but the system one) and waits until it serves. */
export async function ensureNamespace(address: string, namespace: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  await connection.workflowService
    .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') })
    .catch((err: Error) => {
      if (!/already exists/i.test(err.message)) throw err;
    });
  const client = new Client({ connection, namespace });
  // The frontend's namespace cache refreshes every few seconds.
  await waitFor(
    `namespace ${namespace}`,
    async () => {
      await client.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
      return true;
    },
    60_000,
    500,
  );
  return client;
}

export interface Service {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The SDK's default worker identity, as pending activities name it. */
  identity: string;
  healthUrl: string;
}

/** Starts `node --import tsx src/<entry>` with `env`; resolves once its /healthz answers. */
export async function startService(
  name: string,
  entry: string,
  env: NodeJS.ProcessEnv,
  healthUrl: string,
  logFile: string,
): Promise<Service> {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', entry)], {
    env,
    stdio: ['ignore', log, log],
  });
  await waitFor(
    `${name} healthy at ${healthUrl} (log: ${logFile})`,
    async () => {
      if (child.exitCode !== null) throw new GaveUp(`${name} exited with code ${child.exitCode}; see ${logFile}`);
      return (await fetch(healthUrl)).ok;
    },
    180_000,
    300,
  );
  return { name, child, pid: child.pid!, identity: `${child.pid}@${hostname()}`, healthUrl };
}

export async function killHard(service: Service): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Stands in for Slack: records what the worker posts (webhooks) and what the bridge answers (response_url). */
export interface SlackSink {
  url: string;
  posts: { path: string; body: string }[];
  close(): void;
}

export async function startSlackSink(): Promise<SlackSink> {
  const posts: SlackSink['posts'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      posts.push({ path: req.url ?? '/', body });
      res.writeHead(200).end('ok');
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, posts, close: () => server.close() };
}
