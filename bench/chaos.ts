// `npm run chaos`: the production topology on loopback (bench/_chaos-stack.ts: Temporal server on a
// scratch PostgreSQL, three workers, the approval bridge, a local Kubernetes cluster when its
// binaries are built), then faults, each at a random moment, and a check that every run still ends
// with its report and the right outcome. Prints what it did; the last line sums it up:
// chaos: runs=.. completed=.. lost=0 duplicated=0 cordoned_left=0 decisions_lost=0 max_resume_gap_rows=..
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import type { ArchiveResult } from '../domain/database.js';
import { ensureSearchAttributes } from '../schedules/apply.js';
import { ensureDatabase, seedDemoBookings } from '../dev/demo-db.js';
import { startScratchPostgres } from '../dev/scratch-postgres.js';
import type { RunReport } from '../domain/run.js';
import { findKubeBinaries } from '../dev/kube-local/binaries.js';
import { startLocalCluster, type LocalCluster } from '../dev/kube-local/cluster.js';
import { deployDemoWorkloads } from '../dev/kube-local/demo.js';
import { freePort } from '../src/net.js';
import { bundleMaintenanceWorkflows } from '../src/workflow-bundle.js';
import { decide, makeTestKeys, signedDecision, signedRequest } from '../dev/signing-keys.js';
import { interactionBody, slackHeaders } from '../dev/slack-signing.js';
import { nodeUpdatedSignal, statusQuery } from '../workflows/lib/definitions.js';
import {
  ensureNamespace,
  killHard,
  setupTemporalSchema,
  startService,
  startSlackSink,
  startTemporalServer,
  temporalServerBuild,
  waitFor,
  type Service,
} from './_chaos-stack.js';

const NAMESPACE = 'default';
const TASK_QUEUE = 'maintenance';
const SLACK_SECRET = 'chaos-slack-signing-secret';
const SLACK_APPROVER = 'USRELEAD';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (min: number, max: number) => min + Math.random() * (max - min);
const say = (msg: string) => console.log(`chaos: ${msg}`);

interface FaultResult {
  fault: string;
  runs: number;
  completed: number;
  lost: number;
  duplicated: number;
  cordonedLeft: number;
  decisionsLost: number;
  resumeGapRows?: number;
  detail: string;
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'maint-chaos-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const results: FaultResult[] = [];
  const leftOut: string[] = [];
  const cleanUp = async () => {
    for (const c of cleanups.splice(0).reverse())
      await Promise.resolve()
        .then(c)
        .catch(() => undefined);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void cleanUp().then(() => process.exit(130)));
  try {
    const started = Date.now();
    const build = await temporalServerBuild();
    say(`Temporal server v1.29.1 and temporal-sql-tool from ${build}`);
    chmodSync(dir, 0o755); // mkdtemp makes it 0700: the cluster's user must reach its data directory
    const postgres = await startScratchPostgres(join(dir, 'postgres'), { settings: ['max_connections=200'] });
    cleanups.push(() => postgres.stop());
    say(`scratch PostgreSQL on 127.0.0.1:${postgres.port} (${dir}/postgres)`);
    say(`schema tool: ${(await setupTemporalSchema(build, postgres.port)).join(', ')}`);
    for (const db of ['trixtech', 'trixtech_maintenance']) await ensureDatabase(postgres.url('postgres'), db);
    await seedDemoBookings(postgres.url('trixtech'), { bookings: 1000, sessions: 100, resetTokens: 10 });
    const temporal = await startTemporalServer(build, dir, postgres.port);
    cleanups.push(() => temporal.stop());
    const client = await ensureNamespace(temporal.address, NAMESPACE);
    cleanups.push(() => client.connection.close());
    await ensureSearchAttributes(client, NAMESPACE);
    say(
      `Temporal server on ${temporal.address} (persistence and visibility on the scratch PostgreSQL, deploy/temporal/dynamicconfig.yaml)`,
    );

    let cluster: LocalCluster | undefined;
    let kubeMissing: string | undefined;
    try {
      findKubeBinaries();
    } catch (err) {
      kubeMissing = (err as Error).message;
    }
    if (!kubeMissing) {
      cluster = await startLocalCluster({ dir: join(dir, 'cluster'), nodes: 3, nodePrefix: 'chaos-node' });
      cleanups.push(() => cluster!.stop());
      const admin = new KubeConfig();
      admin.loadFromFile(cluster.adminKubeconfig);
      await deployDemoWorkloads(admin, join(cluster.dir, 'pod-logs'));
      say(`local Kubernetes ${cluster.server}: 3 kwok nodes, demo workloads behind PDBs`);
    } else {
      leftOut.push(`kill -9 of workers during a rolling node update (${kubeMissing})`);
    }

    const keys = makeTestKeys(['oncall-lead', 'sre-lead']);
    const sink = await startSlackSink();
    cleanups.push(() => sink.close());
    const backups = join(dir, 'backups');
    mkdirSync(backups);
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        approvals: {
          emergencyMaintenance: { approvers: ['oncall-lead', 'sre-lead'], required: 1 },
          slackUsers: { [SLACK_APPROVER]: 'sre-lead' },
          operatorKeys: keys.operatorKeys,
          bridgeKeys: keys.bridgeKeys,
        },
        targets: { http: [], diskPaths: [dir], backup: { directory: backups } },
        // Batches of exactly the requested size: faults land mid-archive on a loaded machine too.
        database: { backupDirectory: backups, archiveBatchTargetMs: 10_000 },
      }),
    );
    const bundle = join(dir, 'workflow-bundle.js');
    writeFileSync(bundle, (await bundleMaintenanceWorkflows()).code);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TASK_QUEUE,
      DATABASE_URL: postgres.url('trixtech'),
      MAINT_DATABASE_URL: postgres.url('trixtech_maintenance'),
      MAINT_CONFIG: configFile,
      WORKFLOW_BUNDLE: bundle,
      LOG_LEVEL: 'info',
      SLACK_WEBHOOK_URL: `${sink.url}/webhook`,
      METRICS_HOST: '127.0.0.1',
      BRIDGE_HOST: '127.0.0.1',
      ...(cluster ? { KUBECONFIG: cluster.workerKubeconfig } : {}),
    };
    delete env.KUBERNETES_SERVICE_HOST;

    const workers: Service[] = [];
    const startWorker = async (slot: number) => {
      const port = await freePort();
      workers[slot] = await startService(
        `worker-${slot}`,
        'worker.ts',
        { ...env, METRICS_PORT: String(port), SDK_METRICS_PORT: String(await freePort()) },
        `http://127.0.0.1:${port}/healthz`,
        join(dir, `worker-${slot}.log`),
      );
    };
    await Promise.all([0, 1, 2].map(startWorker));
    cleanups.push(() => Promise.all(workers.map((w) => killHard(w))));
    say(`3 workers polling ${TASK_QUEUE}: pids ${workers.map((w) => w.pid).join(', ')} (logs: ${dir}/worker-*.log)`);
    /** kill -9 the worker with this identity (or a random one), then start a fresh one in its slot. */
    const killWorker = async (identity?: string) => {
      const slot = Math.max(
        0,
        identity ? workers.findIndex((w) => w.identity === identity) : Math.floor(Math.random() * workers.length),
      );
      const victim = workers[slot]!;
      await killHard(victim);
      return { victim, restart: () => startWorker(slot) };
    };

    const bridgePorts = { port: await freePort(), health: await freePort() };
    const bridgeEnv = {
      ...env,
      BRIDGE_PORT: String(bridgePorts.port),
      BRIDGE_HEALTH_PORT: String(bridgePorts.health),
      SLACK_SIGNING_SECRET: SLACK_SECRET,
      BRIDGE_SIGNING_KEY: keys.bridgePrivateKey,
      SLACK_RESPONSE_URL_PREFIX: `${sink.url}/`,
    };
    let bridge: Service;
    const startBridge = async () => {
      bridge = await startService(
        'bridge',
        'bridge.ts',
        bridgeEnv,
        `http://127.0.0.1:${bridgePorts.health}/healthz`,
        join(dir, 'bridge.log'),
      );
    };
    await startBridge();
    cleanups.push(() => killHard(bridge));
    say(
      `approval bridge on 127.0.0.1:${bridgePorts.port}; stack up in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );

    const db = new pg.Pool({ connectionString: postgres.url('trixtech'), max: 3 });
    db.on('error', () => undefined); // connections die with each PostgreSQL restart
    cleanups.push(() => db.end());
    const ctx: Ctx = {
      client,
      db,
      keys,
      sink,
      bridgeUrl: `http://127.0.0.1:${bridgePorts.port}`,
      killWorker,
      restartTemporal: () => temporal.restart(),
      restartPostgres: () => postgres.restart(),
      killBridge: () => killHard(bridge),
      startBridge,
      cluster,
    };

    const faults: [string, () => Promise<FaultResult>][] = [
      ['kill -9 of the worker running an archive', () => archiveUnderFault(ctx, 'worker')],
      ...(cluster
        ? [
            ['kill -9 of workers during a rolling node update', () => rollingUpdateUnderWorkerKills(ctx)] as [
              string,
              () => Promise<FaultResult>,
            ],
          ]
        : []),
      ['restart of the Temporal server during an approval wait', () => approvalWaitUnderServerRestart(ctx)],
      ['restart of the Temporal server during a durable timer', () => timerUnderServerRestart(ctx)],
      ['restart of PostgreSQL during an archive', () => archiveUnderFault(ctx, 'postgres')],
      ['restart of PostgreSQL during a VACUUM', () => vacuumUnderPostgresRestart(ctx)],
      ['bridge restart around a signed Slack click', () => slackClickAcrossBridgeRestart(ctx)],
    ];
    for (const [name, run] of faults) {
      say(`--- ${name}`);
      const t = Date.now();
      const r = await run().catch((err: Error): FaultResult => ({
        fault: name,
        runs: 1,
        completed: 0,
        lost: 0,
        duplicated: 0,
        cordonedLeft: 0,
        decisionsLost: 0,
        detail: `FAILED: ${failureChain(err)}`,
      }));
      r.fault = name;
      results.push(r);
      say(`${r.completed === r.runs ? 'ok' : 'NOT OK'} in ${((Date.now() - t) / 1000).toFixed(0)} s: ${r.detail}`);
    }
  } finally {
    await cleanUp();
    if (results.length > 0 && results.every((r) => r.completed === r.runs))
      rmSync(dir, { recursive: true, force: true });
    else say(`logs kept in ${dir}`);
  }
  for (const l of leftOut) say(`left out: ${l}`);
  const sum = (k: keyof FaultResult) => results.reduce((n, r) => n + (Number(r[k]) || 0), 0);
  const gaps = results.flatMap((r) => (r.resumeGapRows === undefined ? [] : [r.resumeGapRows]));
  console.log(
    `chaos: runs=${sum('runs')} completed=${sum('completed')} lost=${sum('lost')} duplicated=${sum('duplicated')} ` +
      `cordoned_left=${sum('cordonedLeft')} decisions_lost=${sum('decisionsLost')} max_resume_gap_rows=${gaps.length ? Math.max(...gaps) : 'n/a'}`,
  );
  if (
    results.length === 0 ||
    results.some((r) => r.completed !== r.runs) ||
    sum('lost') + sum('duplicated') + sum('cordonedLeft') + sum('decisionsLost') > 0
  )
    process.exitCode = 1;
}

interface Ctx {
  client: Client;
  db: pg.Pool;
  keys: ReturnType<typeof makeTestKeys>;
  sink: Awaited<ReturnType<typeof startSlackSink>>;
  bridgeUrl: string;
  killWorker(identity?: string): Promise<{ victim: Service; restart: () => Promise<void> }>;
  restartTemporal(): Promise<void>;
  restartPostgres(): Promise<void>;
  killBridge(): Promise<void>;
  startBridge(): Promise<void>;
  cluster?: LocalCluster;
}

/** "Workflow execution failed" alone says nothing: the messages of the causes, down to the root. */
function failureChain(err: Error): string {
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join(': ');
}

const window = () => ({
  name: 'chaos',
  every: 'day',
  start: new Date(Date.now() - 60_000).toISOString().slice(11, 19),
  durationMinutes: 120,
  duringBusinessHours: true,
});
const uniqueId = (kind: string) => `chaos-${kind}-${Date.now().toString(36)}`;

/** Retries a client call across a server restart (the frontend may still be warming up). */
async function persistently<T>(what: string, call: () => Promise<T>): Promise<T> {
  let last: Error | undefined;
  for (let i = 0; i < 60; i++) {
    try {
      return await call();
    } catch (err) {
      last = err as Error;
      await sleep(1000);
    }
  }
  throw new Error(`${what}: ${last?.message}`);
}

/**
 * 150,000 bookings, a third older than two years (ids interleaved with young ones); archive them in
 * batches of 1,000 and at a random point (10-70% moved) kill -9 the worker running the activity, or
 * restart PostgreSQL. Every old id must end in the archive exactly once, every young one in bookings.
 */
async function archiveUnderFault(ctx: Ctx, fault: 'worker' | 'postgres'): Promise<FaultResult> {
  const { db, client } = ctx;
  await db.query(`DROP TABLE IF EXISTS bookings_archive, chaos_expected, chaos_at_fault; TRUNCATE bookings;
    INSERT INTO bookings (user_id, resource_id, status, starts_at, ends_at, amount_cents, created_at, updated_at)
      SELECT 1, 1, 'completed', c, c, 100, c, c FROM (SELECT now() - (g % 1095) * interval '1 day' AS c FROM generate_series(1, 150000) g) s;
    CREATE TABLE chaos_expected AS SELECT id FROM bookings WHERE created_at < now() - interval '729 days 12 hours'; ANALYZE bookings`);
  const expected = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM chaos_expected')).rows[0]!.n;
  const workflowId = uniqueId(`archive-${fault}`);
  const handle = await client.workflow.start('weeklyDatabaseMaintenance', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ steps: ['archive'], window: window(), archiveBatchSize: 1000, archivePauseMs: 100 }],
  });
  const at = between(0.1, 0.7);
  const archived = async () =>
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings_archive')).rows[0]!.n;
  await waitFor(
    `${Math.round(at * 100)}% of ${expected} rows archived`,
    async () => (await archived()) >= at * expected,
    300_000,
    50,
  );
  // The committed state at the fault (its ids kept): what the retry should not scan again.
  const committed = () =>
    persistently('archive state', async () => {
      await db.query(
        'DROP TABLE IF EXISTS chaos_at_fault; CREATE TABLE chaos_at_fault AS SELECT id FROM bookings_archive',
      );
      return (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM chaos_at_fault')).rows[0]!;
    });
  let what: string;
  let atFault: { n: number };
  if (fault === 'worker') {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const identity = pending[0]?.lastWorkerIdentity ?? undefined;
    const { victim, restart } = await ctx.killWorker(identity ?? undefined);
    what = `killed -9 worker ${victim.pid}${identity ? ' (running the archive)' : ' (no activity reported yet: a random one)'}`;
    await sleep(1000); // a batch statement its backend was running still commits or rolls back
    atFault = await committed(); // before any retry: it starts once the heartbeat times out (10 s)
    await restart();
  } else {
    // Before the restart: a retry may move rows right after it. A batch committing in between is
    // one the retry resumes after, so the count is never smaller than what is re-scanned.
    atFault = await committed();
    await ctx.restartPostgres();
    what = 'restarted PostgreSQL (pg_ctl restart -m fast)';
  }
  const report = (await handle.result()) as RunReport;
  const a = report.details?.archive as ArchiveResult | undefined;
  // Per stream: rows committed in its slice at the fault that its retry did not resume after.
  const gap = a
    ? (
        await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM chaos_at_fault f
             JOIN jsonb_to_recordset($1::jsonb) AS s(after bigint, "upTo" bigint, "resumedAfterId" bigint)
               ON (s.after IS NULL OR f.id > s.after) AND f.id <= s."upTo"
            WHERE s."resumedAfterId" IS NULL OR f.id > s."resumedAfterId"`,
          [JSON.stringify(a.streams)],
        )
      ).rows[0]!.n
    : 0;
  const {
    rows: [c],
  } = await db.query<{ lost: number; both: number; left: number; stray: number }>(`SELECT
      (SELECT count(*) FROM chaos_expected e WHERE NOT EXISTS (SELECT 1 FROM bookings_archive a WHERE a.id = e.id) AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.id = e.id))::int AS lost,
      (SELECT count(*) FROM bookings b JOIN bookings_archive a ON a.id = b.id)::int AS both,
      (SELECT count(*) FROM bookings b JOIN chaos_expected e ON e.id = b.id)::int AS left,
      (SELECT count(*) FROM bookings_archive a WHERE NOT EXISTS (SELECT 1 FROM chaos_expected e WHERE e.id = a.id))::int AS stray`);
  const ok =
    a?.status === 'done' && a.conserved === true && c!.lost === 0 && c!.both === 0 && c!.left === 0 && c!.stray === 0;
  return {
    fault: '',
    runs: 1,
    completed: ok ? 1 : 0,
    lost: c!.lost,
    duplicated: c!.both + c!.stray,
    cordonedLeft: 0,
    decisionsLost: 0,
    resumeGapRows: gap,
    detail:
      `${what} at ${atFault.n}/${expected} rows archived; the retry's ${a?.streams.length ?? 0} stream(s) resumed after id(s) ${a?.streams.map((st) => st.resumedAfterId ?? 'none').join(', ') || 'none'} (${a?.resumedPastHeartbeatRows ?? 0} rows past the last heartbeat), ` +
      `re-scanned ${gap} committed rows; archive ${a?.status}, conserved ${a?.conserved}, ${a?.rowsMoved} moved; lost ${c!.lost}, in both tables ${c!.both}, old left ${c!.left}, wrongly archived ${c!.stray}`,
  };
}

/** An emergency vacuum of bookings, signed by oncall-lead; resolves once it waits for approval. */
async function startEmergency(ctx: Ctx, kind: string, postMortemDelaySeconds: number) {
  const workflowId = uniqueId(kind);
  const handle = await ctx.client.workflow.start('emergencyMaintenance', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [
      signedRequest(ctx.keys.key('oncall-lead'), workflowId, {
        reason: `chaos ${kind}`,
        severity: 'high',
        requestedBy: 'oncall-lead',
        actions: [{ kind: 'vacuum-table', table: 'bookings' }],
        postMortemDelaySeconds,
      }),
    ],
  });
  await waitFor(
    `${workflowId} waiting for approval`,
    async () => (await handle.query(statusQuery)).waitingFor?.startsWith('approval') ?? false,
    180_000,
    300,
  );
  return { workflowId, handle };
}

const approveAsSreLead = async (ctx: Ctx, workflowId: string) =>
  persistently(`approve ${workflowId}`, async () => {
    const { proof } = await signedDecision(ctx.client, workflowId, ctx.keys.key('sre-lead'), { principal: 'sre-lead' });
    return decide(ctx.client, workflowId, proof);
  });

function emergencyOutcome(report: RunReport, approvalsSent: number) {
  const counted = report.approvals.filter((a) => a.decision === 'approve' && !a.ignored).length;
  const executed =
    /executed/.test(report.summary) && report.steps.some((s) => s.name.startsWith('VACUUM') && s.outcome === 'ok');
  return {
    counted,
    executed,
    decisionsLost: Math.max(0, Math.min(approvalsSent, 1) - counted),
    duplicated: Math.max(0, counted - 1),
  };
}

/** An emergency run's end after a fault: complete when it executed on exactly one counted approval and `judge` agrees. */
async function emergencyFaultResult(
  handle: Awaited<ReturnType<typeof startEmergency>>['handle'],
  judge: (report: RunReport, o: ReturnType<typeof emergencyOutcome>) => { ok: boolean; detail: string },
): Promise<FaultResult> {
  const report = (await persistently('result', () => handle.result())) as RunReport;
  const o = emergencyOutcome(report, 1);
  const { ok, detail } = judge(report, o);
  return {
    fault: '',
    runs: 1,
    completed: ok && o.executed && o.counted === 1 ? 1 : 0,
    lost: 0,
    duplicated: o.duplicated,
    cordonedLeft: 0,
    decisionsLost: o.decisionsLost,
    detail,
  };
}

async function approvalWaitUnderServerRestart(ctx: Ctx): Promise<FaultResult> {
  const { workflowId, handle } = await startEmergency(ctx, 'approval-wait', 1);
  const delay = between(0, 3000);
  await sleep(delay);
  await ctx.restartTemporal();
  const verdict = await approveAsSreLead(ctx, workflowId);
  return emergencyFaultResult(handle, (report) => ({
    ok: true,
    detail: `killed -9 and restarted the server ${(delay / 1000).toFixed(1)} s into the approval wait; approval after it: ${verdict.verdict}; ${report.summary}`,
  }));
}

async function timerUnderServerRestart(ctx: Ctx): Promise<FaultResult> {
  const delaySeconds = 20;
  const { workflowId, handle } = await startEmergency(ctx, 'timer', delaySeconds);
  await approveAsSreLead(ctx, workflowId);
  let timerSet = 0;
  await waitFor(
    `${workflowId} in its post-mortem timer`,
    async () => {
      const waiting = (await handle.query(statusQuery)).waitingFor;
      if (!waiting?.startsWith('post-mortem reminder')) return false;
      timerSet = Date.now();
      return true;
    },
    300_000,
    300,
  );
  const into = between(1000, (delaySeconds - 5) * 1000);
  await sleep(into);
  await ctx.restartTemporal();
  return emergencyFaultResult(handle, (report) => {
    const reminded = ctx.sink.posts.some((p) => p.body.includes(`Post-mortem due for emergency ${workflowId}`));
    const elapsed = (Date.now() - timerSet) / 1000;
    return {
      ok: reminded && elapsed >= delaySeconds - 1,
      detail: `killed -9 and restarted the server ${(into / 1000).toFixed(1)} s into a ${delaySeconds} s timer; it fired ${elapsed.toFixed(1)} s after it was set, reminder posted: ${reminded}; ${report.summary}`,
    };
  });
}

async function vacuumUnderPostgresRestart(ctx: Ctx): Promise<FaultResult> {
  const { db, client } = ctx;
  // Dead tuples to vacuum: every row updated twice, autovacuum kept off them so the VACUUM has work.
  await db.query('ALTER TABLE bookings SET (autovacuum_enabled = false)');
  await db.query(
    "INSERT INTO bookings (user_id, resource_id, status, starts_at, ends_at, amount_cents) SELECT 1, 1, 'pending', now(), now(), g FROM generate_series(1, 400000) g",
  );
  await db.query('UPDATE bookings SET amount_cents = amount_cents + 1');
  await db.query('UPDATE bookings SET amount_cents = amount_cents + 1');
  const fingerprint = async () =>
    (
      await db.query<{ n: number; h: string }>(
        'SELECT count(*)::int AS n, coalesce(sum(hashtextextended(id::text, 0)), 0)::text AS h FROM bookings',
      )
    ).rows[0]!;
  const before = await fingerprint();
  const handle = await client.workflow.start('weeklyDatabaseMaintenance', {
    taskQueue: TASK_QUEUE,
    workflowId: uniqueId('vacuum'),
    args: [{ steps: ['vacuum'], vacuumTables: ['bookings'], window: window() }],
  });
  const vacuuming = async () =>
    (
      await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ILIKE 'VACUUM%' AND state = 'active' AND pid <> pg_backend_pid()",
      )
    ).rows[0]!.n > 0;
  await waitFor('VACUUM running', vacuuming, 180_000, 20);
  await sleep(between(0, 300));
  const hit = await vacuuming();
  await ctx.restartPostgres();
  const report = (await persistently('result', () => handle.result())) as RunReport;
  const after = await fingerprint();
  const vacuum = report.checks.find((c) => c.check === 'db.vacuum');
  const ok = vacuum?.status === 'ok' && after.n === before.n && after.h === before.h;
  return {
    fault: '',
    runs: 1,
    completed: ok ? 1 : 0,
    lost: Math.max(0, before.n - after.n),
    duplicated: Math.max(0, after.n - before.n),
    cordonedLeft: 0,
    decisionsLost: 0,
    detail: `restarted PostgreSQL ${hit ? 'while VACUUM ran' : 'just after VACUUM finished'}; vacuum check ${vacuum?.status}: ${vacuum?.detail}; bookings ${before.n} -> ${after.n} rows, same ids: ${after.h === before.h}`,
  };
}

/**
 * A signed Slack click around a bridge kill -9: the bridge dies just before the click, or right
 * after it was sent. The bridge answers 200 only once the decision reached the run, so a click
 * without a 200 is clicked again, and a 200 means delivered. The decision must count exactly once.
 */
async function slackClickAcrossBridgeRestart(ctx: Ctx): Promise<FaultResult> {
  const { workflowId, handle } = await startEmergency(ctx, 'slack-click', 1);
  const body = interactionBody(SLACK_APPROVER, 'approve', workflowId, `${ctx.sink.url}/respond/${workflowId}`);
  const click = () =>
    fetch(`${ctx.bridgeUrl}/slack/interactions`, { method: 'POST', body, headers: slackHeaders(body, SLACK_SECRET) });
  const before = Math.random() < 0.5;
  let first: string;
  if (before) {
    await ctx.killBridge();
    first = await click().then(
      (r) => `HTTP ${r.status}`,
      (err: Error) => `refused (${err.cause instanceof Error ? err.cause.message : err.message})`,
    );
  } else {
    const sent = click().then(
      (r) => `HTTP ${r.status}`,
      () => 'no answer',
    );
    await sleep(between(0, 50));
    await ctx.killBridge();
    first = await sent;
  }
  await ctx.startBridge();
  // Slack shows a click that got no 200 as failed: the approver clicks again. After a 200 nobody does.
  const retry =
    first === 'HTTP 200' ? 'none (the first click was acknowledged)' : await click().then((r) => `HTTP ${r.status}`);
  return emergencyFaultResult(handle, (report, o) => ({
    ok: true,
    detail:
      `bridge killed -9 ${before ? 'before' : 'right after'} the click (first try: ${first}), restarted; second click: ${retry}; ` +
      `approvals recorded ${report.approvals.length}, counted ${o.counted}; ${report.summary}`,
  }));
}

/**
 * A rolling update of the three kwok nodes, one at a time, each drained through the Eviction API
 * past the demo PDBs; two workers are killed -9 at random moments meanwhile (and replaced). Every
 * node must end uncordoned and the run ok.
 */
async function rollingUpdateUnderWorkerKills(ctx: Ctx): Promise<FaultResult> {
  const admin = new KubeConfig();
  admin.loadFromFile(ctx.cluster!.adminKubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  const nodes = (await core.listNode()).items.map((n) => n.metadata!.name!).filter((n) => n.startsWith('chaos-node'));
  const workflowId = uniqueId('rolling');
  const handle = await ctx.client.workflow.start('rollingNodeUpdate', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [
      {
        nodes,
        concurrency: 1,
        node: {
          drain: { pollInterval: 500, evictionRetry: 1000, timeout: '10 minutes' },
          update: { doneWhen: 'signal', timeout: '30 minutes' },
          readyTimeout: '5 minutes',
          pollInterval: 500,
        },
      },
    ],
  });
  // The node "update" itself: signal each node's child once it waits for it.
  let done = false;
  const signalled = new Set<string>();
  const updater = (async () => {
    while (!done) {
      for (const node of nodes) {
        if (signalled.has(node)) continue;
        const child = ctx.client.workflow.getHandle(`${workflowId}/${node}`);
        const waiting = await child.query(statusQuery).then(
          (s) => s.waitingFor,
          () => null,
        );
        if (waiting?.startsWith('signal nodeUpdated')) {
          await child.signal(nodeUpdatedSignal, { by: 'chaos' }).then(
            () => signalled.add(node),
            () => undefined,
          );
        }
      }
      await sleep(300);
    }
  })();
  const kills: string[] = [];
  const result = handle.result() as Promise<RunReport>;
  const finished = result.then(
    () => true,
    () => true,
  );
  for (const at of [between(1000, 5000), between(3000, 10_000)]) {
    if (await Promise.race([finished, sleep(at).then(() => false)])) break;
    const { victim, restart } = await ctx.killWorker();
    kills.push(`worker ${victim.pid} at +${(at / 1000).toFixed(1)} s`);
    await restart();
  }
  // A failed run still counts what it left cordoned; the updater stops either way (its queries would outlive the client).
  const ending = await result.then(
    (report) => `${report.outcome}: ${report.summary}`,
    (err: Error) => `FAILED: ${failureChain(err)}`,
  );
  done = true;
  await updater;
  const cordoned = (await core.listNode()).items
    .filter((n) => nodes.includes(n.metadata!.name!) && n.spec?.unschedulable)
    .map((n) => n.metadata!.name!);
  const ok = ending.startsWith('ok:') && cordoned.length === 0;
  return {
    fault: '',
    runs: 1,
    completed: ok ? 1 : 0,
    lost: 0,
    duplicated: 0,
    cordonedLeft: cordoned.length,
    decisionsLost: 0,
    detail: `killed -9 ${kills.join(', ') || 'no worker (the update finished first)'}; ${ending}; cordoned left: ${cordoned.join(', ') || 'none'}`,
  };
}
