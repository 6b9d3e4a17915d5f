// `npm run up`: the whole product on one machine, on embedded defaults. Starts the Temporal dev
// server (UI on :8233, history in .data/temporal.db), a local Kubernetes cluster with the demo
// workloads unless KUBECONFIG is set, the worker, applies the schedules, makes a demo booking
// database when none is configured, a Slack emulator when no Slack is configured, triggers one
// dailyHealthCheck and one quarterlyReview (whose checklist tasks reach the emulator), and prints
// where to look. Ctrl-C stops everything it started.
//
// The local Kubernetes control plane starts first, then the Temporal dev server: their own starts
// are the longest waits. So only what starts the control plane is imported up front; every other
// module is imported where it is used, while they start (about 3 s under tsx, mostly the
// Kubernetes and Temporal clients).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../src/config/schema.js';
import type { DevServer } from './devserver.js';
import { startLocalCluster, WORKER_USERNAME, type LocalCluster } from './kube-local/cluster.js';
import type { SlackEmulator } from './slack-emulator.js';
import { developmentStart, type DevelopmentStart } from './transpiled.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA = join(ROOT, '.data');
const UI_PORT = Number(process.env.TEMPORAL_UI_PORT ?? 8233);

const say = (msg: string) => console.log(`up: ${msg}`);
const KEYS = join(DATA, 'keys');
/** Demo people with keys: one requests an emergency, the other approves it (nobody approves their own). */
const DEMO_REQUESTER = 'oncall-lead';
const DEMO_APPROVER = 'sre-lead';
/** The emulated Slack's user: mapped to the demo approver, who holds every checklist role (so do both demo people). */
const DEMO_SLACK_USER = { id: 'U0DEMOSRE', name: DEMO_APPROVER };
const SLACK_EMULATOR_PORT = Number(process.env.SLACK_EMULATOR_PORT ?? 3002);

/** The signing secret the bridge and the Slack emulator share, made once under .data/ (0600); never printed. */
function ensureSlackSigningSecret(): string {
  const file = join(DATA, 'slack-signing-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** An Ed25519 key pair under .data/keys/ (private 0600), made once; returns its OpenSSH public line. */
async function ensureDemoKey(name: string): Promise<string> {
  const { generateSigningKey, parsePrivateKey } = await import('../src/signing.js');
  const file = join(KEYS, name);
  if (!existsSync(file)) {
    mkdirSync(KEYS, { recursive: true, mode: 0o700 });
    const { privateKey, publicLine } = generateSigningKey(`${name}@trixtech-demo`);
    writeFileSync(file, privateKey, { mode: 0o600 });
    writeFileSync(`${file}.pub`, `${publicLine}\n`);
    say(`demo signing key for ${name}: ${file}`);
  }
  return parsePrivateKey(readFileSync(file, 'utf8')).publicLine;
}

/** The local demo's targets: real local services (the Temporal UI, the worker), a local backup folder. */
async function writeDemoConfig(metricsPort: number, slackEmulated: boolean): Promise<string> {
  const { ROLES } = await import('../domain/checklists.js');
  const people = [DEMO_REQUESTER, DEMO_APPROVER];
  const [bridgeKey, ...peopleKeys] = await Promise.all(['bridge', ...people].map(ensureDemoKey));
  const path = join(DATA, 'local-config.json');
  writeFileSync(
    path,
    JSON.stringify(
      {
        approvals: {
          operatorKeys: Object.fromEntries(people.map((p, i) => [p, [peopleKeys[i]!]])),
          bridgeKeys: [bridgeKey!],
          // Only the emulator's user: in a real workspace that id could be anybody.
          slackUsers: slackEmulated ? { [DEMO_SLACK_USER.id]: DEMO_SLACK_USER.name } : {},
        },
        // Both demo people may sign off any checklist task: one from the emulated Slack, the other with `maint signoff`.
        checklistRoles: Object.fromEntries(ROLES.map((role) => [role, [DEMO_APPROVER, DEMO_REQUESTER]])),
        targets: {
          http: [
            { name: 'temporal-ui', url: `http://127.0.0.1:${UI_PORT}/` },
            { name: 'worker-healthz', url: `http://127.0.0.1:${metricsPort}/healthz`, budgetMs: 500 },
          ],
          diskPaths: ['/'],
          backup: { directory: join(DATA, 'backups') },
          // The demo database lives in this machine's PostgreSQL: its data directory is visible here.
          ...(process.env.DATABASE_URL ? {} : { databaseVolume: { source: 'data-directory' } }),
        },
      },
      null,
      2,
    ),
  );
  return path;
}

/** Whether anything accepts a TCP connection at host:port: a cheap first look before a Temporal client is loaded. */
function listening(address: string): Promise<boolean> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)) });
    socket.setTimeout(1000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function answers(address: string): Promise<boolean> {
  const { Connection } = await import('@temporalio/client');
  try {
    const c = await Connection.connect({ address, connectTimeout: '1 second' });
    await c.close();
    return true;
  } catch {
    return false;
  }
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/**
 * The demo's first backup, taken by the backup module (dump + manifest), so the backup check has
 * something real to verify; dumps without a manifest (older runs of `up`) do not count.
 */
async function ensureDemoBackup(config: Config): Promise<void> {
  const dir = join(DATA, 'backups');
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).some((f) => f.endsWith('.dump.manifest.json'))) return;
  const [{ default: pg }, { createBackupActivities }] = await Promise.all([
    import('pg'),
    import('../activities/postgres/backup.js'),
  ]);
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  try {
    const { file } = await createBackupActivities({
      db,
      databaseUrl: config.databaseUrl,
      backupDirectory: dir,
      pgBinDir: config.database.pgBinDir,
      timeouts: {
        lockTimeoutMs: config.database.lockTimeoutMs,
        statementTimeoutMs: config.database.statementTimeoutMs,
      },
    }).createDatabaseBackup();
    say(`demo backup written to ${file} (with its manifest)`);
  } finally {
    await db.end();
  }
}

async function waitForHealthz(url: string, service: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (service.exitCode !== null)
      throw new Error(`${url} never answered: the process exited with code ${service.exitCode}`);
    const ok = await fetch(url)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not report healthy within 60 s`);
}

/** The booking database (demo data and first backup) and the report store on the local PostgreSQL, unless configured. */
async function prepareDatabases(config: Config): Promise<void> {
  const [{ ensureDatabase, seedDemoBookings }, { redactUrl }] = await Promise.all([
    import('./demo-db.js'),
    import('../src/config/redact.js'),
  ]);
  const admin = new URL(config.databaseUrl);
  admin.pathname = '/postgres';
  if (!process.env.DATABASE_URL) {
    if (await ensureDatabase(admin.toString(), databaseName(config.databaseUrl)))
      say(`created demo database ${redactUrl(config.databaseUrl)}`);
    if ((await seedDemoBookings(config.databaseUrl)).seeded) say('seeded demo bookings, sessions and reset tokens');
    await ensureDemoBackup(config);
  }
  if (!process.env.MAINT_DATABASE_URL) {
    const reportsAdmin = new URL(config.reportDatabaseUrl);
    reportsAdmin.pathname = '/postgres';
    await ensureDatabase(reportsAdmin.toString(), databaseName(config.reportDatabaseUrl));
  }
}

/**
 * A fresh local cluster in .data/cluster; the worker gets its ServiceAccount. The demo workloads
 * are applied as soon as the apiserver serves them, while kwok brings the nodes up; the returned
 * promise holds both.
 */
function startDemoCluster(onWorkerKubeconfig: (path: string) => void): {
  cluster: Promise<LocalCluster>;
  demo: Promise<void>;
} {
  const dir = join(DATA, 'cluster');
  rmSync(dir, { recursive: true, force: true });
  // One deployment per start attempt (a start that loses a port race is tried again): the last is the live one's.
  const deployments: Promise<void>[] = [];
  const cluster = startLocalCluster({
    dir,
    nodes: 3,
    onWorkerKubeconfig,
    onApiReady: (adminKubeconfig) => {
      const deployment = deployDemo(adminKubeconfig, join(dir, 'pod-logs'));
      deployment.catch(() => undefined);
      deployments.push(deployment);
    },
  }).then((c) => {
    say(
      `Kubernetes ${c.server}: apiserver ready in ${(c.timings.apiserverReadyMs / 1000).toFixed(1)} s, 3 nodes Ready in ${(c.timings.nodesReadyMs / 1000).toFixed(1)} s (logs: .data/cluster/logs/)`,
    );
    return c;
  });
  return { cluster, demo: cluster.then(() => deployments.at(-1)) };
}

async function deployDemo(adminKubeconfig: string, podLogs: string): Promise<void> {
  const started = Date.now();
  const [{ KubeConfig }, { deployDemoWorkloads }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('./kube-local/demo.js'),
  ]);
  const admin = new KubeConfig();
  admin.loadFromFile(adminKubeconfig);
  await deployDemoWorkloads(admin, podLogs);
  say(
    `demo workloads trixtech-backend and trixtech-frontend available in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  const started: { name: string; stop: () => Promise<void> }[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    for (const s of started.reverse())
      await s.stop().catch((err: Error) => console.error(`up: stopping ${s.name}: ${err.message}`));
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  // Kubernetes: the one KUBECONFIG names, else a local cluster, started before anything else. Its
  // worker kubeconfig is written before the control plane starts, so the worker need not wait for
  // the apiserver; the health check waits for the demo workloads.
  let workerKubeconfigWritten = () => {};
  const workerKubeconfig = new Promise<void>((resolve) => (workerKubeconfigWritten = resolve));
  const local = env.KUBECONFIG
    ? undefined
    : startDemoCluster((path) => {
        env.KUBECONFIG = path;
        workerKubeconfigWritten();
      });
  let cluster: LocalCluster | undefined;
  const clusterReady = local?.cluster.then((c) => (cluster = c));
  // Registered now, not once it is up: a failure elsewhere during start-up must not orphan it.
  if (clusterReady)
    started.push({ name: 'kubernetes', stop: async () => (await clusterReady.catch(() => undefined))?.stop() });
  // Until awaited below, a failure is reported there, not as an unhandled rejection.
  clusterReady?.catch(() => undefined);
  local?.demo.catch(() => undefined);

  const startService = (name: string, start: DevelopmentStart, args: string[] = []): ChildProcess => {
    say(`starting the ${name} (log: .data/${name}.log)`);
    const log = openSync(join(DATA, `${name}.log`), 'a');
    const child = spawn(process.execPath, [...start.args, ...args], {
      env: { ...env, ...start.env },
      stdio: ['ignore', log, log],
    });
    started.push({
      name,
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    });
    child.once('exit', (code) => {
      if (!stopping) {
        console.error(`up: ${name} exited with code ${code}; see .data/${name}.log`);
        void stopAll(1);
      }
    });
    return child;
  };

  try {
    const metricsPort = Number(env.METRICS_PORT ?? 9464);
    const demo = !env.MAINT_CONFIG;
    // No Slack of yours: every webhook goes to the emulator, whose clicks reach the bridge signed.
    const emulateSlack = !env.SLACK_WEBHOOK_URL && !env.SLACK_TASKS_WEBHOOK_URL && !env.SLACK_ALERT_WEBHOOK_URL;
    env.MAINT_CONFIG ??= await writeDemoConfig(metricsPort, emulateSlack);
    if (demo) env.BRIDGE_SIGNING_KEY_FILE ??= join(KEYS, 'bridge');
    const slackUrl = `http://127.0.0.1:${SLACK_EMULATOR_PORT}`;
    const slackPage = `http://localhost:${SLACK_EMULATOR_PORT}`;
    if (emulateSlack) {
      env.SLACK_WEBHOOK_URL = `${slackUrl}/hooks/report`;
      env.SLACK_ALERT_WEBHOOK_URL = `${slackUrl}/hooks/alert`;
      env.SLACK_TASKS_WEBHOOK_URL = `${slackUrl}/hooks/tasks`;
      env.SLACK_RESPONSE_URL_PREFIX = `${slackUrl}/respond/`;
      env.SLACK_SIGNING_SECRET ??= ensureSlackSigningSecret();
    }
    // Our sources transpiled and the workflow bundle, both cached by content, ready while the rest starts.
    const workerStart = developmentStart('worker.ts');
    workerStart.catch(() => undefined);
    const { loadConfig } = await import('../src/config/load.js');
    const config = loadConfig(env);
    if (Object.keys(config.approvals.operatorKeys).length === 0)
      say('warning: no approvals.operatorKeys configured: no `maint approve` can count');

    // Temporal: reuse a server that already answers, else start the dev server with the UI.
    let server: DevServer | undefined;
    let temporalReady: Promise<unknown> = Promise.resolve();
    if ((await listening(config.temporal.address)) && (await answers(config.temporal.address))) {
      say(`using the Temporal server already at ${config.temporal.address}`);
    } else {
      const port = Number(config.temporal.address.split(':').pop());
      say(
        `starting the Temporal dev server on ${config.temporal.address}, UI on :${UI_PORT} (log: .data/temporal.log)`,
      );
      const log = openSync(join(DATA, 'temporal.log'), 'a');
      const { startDevServer } = await import('./devserver.js');
      temporalReady = startDevServer({
        port,
        uiPort: UI_PORT,
        dbFilename: join(DATA, 'temporal.db'),
        logLevel: 'warn',
        output: log,
      }).then((s) => (server = s));
      started.push({
        name: 'temporal',
        stop: async () => {
          await temporalReady.catch(() => undefined);
          await server?.stop();
        },
      });
    }
    temporalReady.catch(() => undefined);

    // The databases get ready while Temporal starts (and the cluster, above): none needs another.
    const databasesReady = prepareDatabases(config);
    databasesReady.catch(() => undefined);

    let slack: SlackEmulator | undefined;
    if (emulateSlack) {
      const { startSlackEmulator } = await import('./slack-emulator.js');
      slack = await startSlackEmulator({
        port: SLACK_EMULATOR_PORT,
        bridgeUrl: `http://127.0.0.1:${config.bridge.port}`,
        signingSecret: config.slack.signingSecret!,
        user: DEMO_SLACK_USER,
        logFile: join(DATA, 'slack.log'),
      }).catch((err: Error) => {
        throw new Error(`Slack emulator on :${SLACK_EMULATOR_PORT}: ${err.message} (set SLACK_EMULATOR_PORT)`);
      });
      started.push({ name: 'slack emulator', stop: () => slack!.close() });
      say(`Slack emulator on ${slackPage} (log: .data/slack.log)`);
    }

    // The worker creates its report table at start and connects to Temporal at once.
    await Promise.all([databasesReady, temporalReady]);
    // A cluster that fails before its worker kubeconfig is written fails here.
    if (clusterReady) await Promise.race([workerKubeconfig, clusterReady]);
    else say(`using the Kubernetes cluster of KUBECONFIG=${env.KUBECONFIG}`);
    // The first health check follows at once: the worker loads its Kubernetes activities beside polling.
    const worker = startService('worker', await workerStart, ['--preload-kubernetes']);

    const [{ connectClient }, { applySchedules, ensureSearchAttributes, triggerSchedule }, { SCHEDULES }] =
      await Promise.all([
        import('../src/temporal.js'),
        import('../schedules/apply.js'),
        import('../schedules/definitions.js'),
      ]);
    const client = await connectClient(config);
    await ensureSearchAttributes(client, config.temporal.namespace);
    // The schedules need the client only: they go ahead of the worker and the cluster.
    const schedulesApplied = applySchedules(client, SCHEDULES, { taskQueue: config.temporal.taskQueue });
    schedulesApplied.catch(() => undefined);
    await waitForHealthz(`http://127.0.0.1:${metricsPort}/healthz`, worker);
    // The bridge serves people's clicks only, none of which can come before the banner: started once
    // the worker is up, its start does not slow the worker's on these two cores.
    const bridge = startService('bridge', await developmentStart('bridge.ts'));
    const bridgeHealthy = waitForHealthz(`http://127.0.0.1:${config.bridge.healthPort}/healthz`, bridge);
    bridgeHealthy.catch(() => undefined);

    const results = await schedulesApplied;
    say(`schedules: ${results.map((r) => `${r.id} ${r.action}`).join(', ')}`);

    // Both: a cluster whose nodes never come up fails here even while the demo still waits for them.
    if (local) await Promise.all([local.cluster, local.demo]);
    // A quarterly review leaves its checklist tasks to people: they are posted to Slack (the emulator).
    const [workflowId, reviewId] = await Promise.all([
      triggerSchedule(client, 'daily-health-check'),
      triggerSchedule(client, 'quarterly-review'),
    ]);
    await bridgeHealthy;
    const { redactUrl } = await import('../src/config/redact.js');
    const ui = `http://localhost:${UI_PORT}`;
    const ns = encodeURIComponent(config.temporal.namespace);
    console.log(`
TRIXTECH maintenance is up.
  Temporal UI        ${ui}/namespaces/${ns}/workflows
  health check run   ${workflowId ? `${ui}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}` : '(triggered; see the UI)'}
  schedules          ${ui}/namespaces/${ns}/schedules   (or: npx maint schedules list)
  worker metrics     http://localhost:${metricsPort}/metrics
  approval bridge    http://localhost:${config.bridge.port}/slack/interactions, /slack/commands${config.slack.signingSecret ? '' : ' (set SLACK_SIGNING_SECRET to accept Slack requests)'}${
    slack
      ? `
  Slack (emulated)   ${slackPage}   reports, alerts and checklist tasks with their buttons; a click reaches the bridge
                     signed, as Slack user ${DEMO_SLACK_USER.id} (${demo ? DEMO_SLACK_USER.name : 'map it to a person in approvals.slackUsers of your config'}); log .data/slack.log`
      : ''
  }
  bridge health      http://localhost:${config.bridge.healthPort}/healthz, /metrics
  run history        npx maint runs
  config in use      ${relative(process.cwd(), env.MAINT_CONFIG!) || env.MAINT_CONFIG}   (maint plan reads it with MAINT_CONFIG=<that path>)
  booking database   ${redactUrl(config.databaseUrl)}${
    cluster
      ? `
  Kubernetes         ${cluster.server}: 3 kwok nodes, deployments trixtech-backend and trixtech-frontend behind PDBs
    as admin         export KUBECONFIG=${relative(process.cwd(), cluster.adminKubeconfig)}; ${cluster.kubectl} get nodes,pods,pdb -o wide
    the worker       ${relative(process.cwd(), cluster.workerKubeconfig)} (${WORKER_USERNAME}, bound by deploy/rbac.yaml)
    audit log        ${relative(process.cwd(), cluster.auditLog)}`
      : ''
  }${
    demo
      ? `
  approvals (demo)   signed with the keys in .data/keys/: ${DEMO_REQUESTER} asks, ${DEMO_APPROVER} approves (nobody approves their own):
    npx maint emergency start --as ${DEMO_REQUESTER} --key .data/keys/${DEMO_REQUESTER} --reason "bookings bloated" --severity high --action "vacuum-table table=bookings"
    npx maint approve <workflowId> --as ${DEMO_APPROVER} --key .data/keys/${DEMO_APPROVER}     (add --print for the plain temporal CLI)`
      : ''
  }
  quarterly review   ${reviewId ?? '(triggered; see npx maint runs --kind quarterlyReview)'}: its checklist tasks${slack ? ` are on ${slackPage}` : ' go to SLACK_TASKS_WEBHOOK_URL'}${
    demo
      ? `
    export MAINT_CONFIG=${relative(process.cwd(), env.MAINT_CONFIG!) || env.MAINT_CONFIG}
    npx maint signoff ${reviewId ?? '<workflowId>'} quarter-strategy.slo --as ${DEMO_REQUESTER} --key .data/keys/${DEMO_REQUESTER} --comment "SLOs met"
    npx maint report ${reviewId ?? '<workflowId>'}     (who signed off which task, how and when)`
      : ''
  }
  logs               .data/worker.log, .data/bridge.log, .data/temporal.log
Ctrl-C stops everything started here.`);
    for (const id of [workflowId, reviewId]) {
      if (!id) continue;
      const result = await client.workflow
        .getHandle(id)
        .result()
        .catch((err: Error) => ({ summary: `failed: ${err.message}` }));
      say(`${id}: ${(result as { summary: string }).summary}`);
    }
  } catch (err) {
    // A configuration error is printed as it is, as every entry point does.
    const { ConfigError } = await import('../src/config/load.js');
    console.error(err instanceof ConfigError ? err.message : `up: ${(err as Error).message}`);
    await stopAll(err instanceof ConfigError ? 2 : 1);
  }
}

if (!existsSync(join(ROOT, 'node_modules'))) {
  console.error('up: node_modules missing; run npm run up (it installs them)');
  process.exit(1);
}
await main();
