// The approval bridge under attack (issue 21), all on loopback: a real bridge process (src/bridge.ts)
// with a real Temporal dev server, flooded for 10 s by attacker processes from their own loopback
// addresses: forged requests at 1,000/s, 20,000 slow connections (trickled bodies and headers),
// 10 MB bodies. Meanwhile /healthz on the health port is probed 50 times a second on fresh
// connections, as a kubelet would (1 s timeout), and so is a trivial HTTP server in a process of its
// own (control_p99_ms: what the loaded machine alone costs). When the flood ends, a valid signed
// Slack click (from 127.0.0.1, Slack's address here) is sent until it is acknowledged.
// Goals: refused_healthz=0, healthz_p99_ms < 100, slack_ok_after_s <= 10.
// The click is acknowledged once the bridge has verified it, mapped the user and found the gated
// run; no worker runs, so the decision it then signs is not delivered (that path is tested in
// test/approvals-emergency.test.ts).
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../dev/devserver.js';
import { freePort } from '../src/net.js';
import { generateSigningKey } from '../src/signing.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FLOOD_MS = 10_000;
const SLOW_CONNECTIONS = 20_000;
/** Slow connections per attacker process: each process keeps its sockets under its own file-handle limit. */
const SLOW_PER_PROCESS = 10_000;
const PROBE_EVERY_MS = 20;
const PROBE_TIMEOUT_MS = 1_000;
/** Give up on the valid click this long after the flood (the goal is 10 s). */
const CLICK_DEADLINE_MS = 60_000;
const SECRET = 'bench-abuse-signing-secret';
const APPROVER_SLACK_ID = 'UBENCHAPPROVER';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** One GET on a fresh connection: status and milliseconds, or the reason it failed. */
function get(url: string, timeoutMs: number): Promise<{ status?: number; ms: number; error?: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ms: performance.now() - started, error: err.message }));
    req.end();
  });
}

/** A click on the approve button, signed with the real secret as Slack would: the status it gets. */
function click(url: string, workflowId: string): Promise<number | string> {
  const payload = {
    type: 'block_actions',
    user: { id: APPROVER_SLACK_ID },
    response_url: 'http://127.0.0.1:9/not-posted',
    actions: [{ action_id: 'approve', value: workflowId }],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return new Promise((resolve) => {
    const req = request(
      `${url}/slack/interactions`,
      {
        method: 'POST',
        agent: false,
        timeout: 2_000,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': timestamp,
          'x-slack-signature': signature,
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(err.message));
    req.end(body);
  });
}

function startAttacker(kind: 'forged' | 'bodies' | 'slow', url: string, count: number, firstSource: number) {
  const child = fork(
    fileURLToPath(new URL('./_abuse-flood.ts', import.meta.url)),
    [kind, url, String(count), String(firstSource)],
    { execArgv: ['--import', 'tsx'], stdio: 'inherit' },
  );
  const onExit = (reject: (err: Error) => void) =>
    child.once('exit', (code) => reject(new Error(`${kind} attacker exited with ${code}`)));
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    onExit(reject);
  });
  const report = ready.then(
    () =>
      new Promise<{ kind: string; counts: Record<string, number> }>((resolve, reject) => {
        child.once('message', (m) => resolve(m as { kind: string; counts: Record<string, number> }));
        onExit(reject);
      }),
  );
  return { child, ready, report };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] ?? NaN;

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-abuse-'));
  const server = await startDevServer({ port: await freePort(), headless: true });
  let bridge: ChildProcess | undefined;
  const children: ChildProcess[] = [];
  try {
    // A gated run for the click to name; it waits on a task queue no worker polls.
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const workflowId = `bench-abuse-${Date.now()}`;
    await client.workflow.start('emergencyMaintenance', { taskQueue: 'bench-abuse-no-worker', workflowId, args: [{}] });
    await client.connection.close();

    const [port, healthPort] = [await freePort(), await freePort()];
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ approvals: { slackUsers: { [APPROVER_SLACK_ID]: 'oncall-lead' } } }));
    const logFile = join(dir, 'bridge.log');
    bridge = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'bridge.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: server.address,
        MAINT_CONFIG: configFile,
        BRIDGE_HOST: '127.0.0.1',
        BRIDGE_PORT: String(port),
        BRIDGE_HEALTH_PORT: String(healthPort),
        SLACK_SIGNING_SECRET: SECRET,
        BRIDGE_SIGNING_KEY: generateSigningKey('bench-bridge').privateKey,
        SLACK_RESPONSE_URL_PREFIX: 'http://127.0.0.1:9/',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')],
    });
    const url = `http://127.0.0.1:${port}`;
    const healthz = `http://127.0.0.1:${healthPort}/healthz`;
    for (let i = 0; (await get(healthz, 1_000)).status !== 200; i++) {
      if (i > 300 || bridge.exitCode !== null) throw new Error(`the bridge did not come up; see ${logFile}`);
      await sleep(100);
    }
    if ((await click(url, workflowId)) !== 200)
      throw new Error(`a valid click is not acknowledged before the flood; see ${logFile}`);
    await sleep(1_000);
    const rssBefore = rssMb(bridge.pid!);
    const logBefore = statSync(logFile).size;
    console.log(`bridge up (pid ${bridge.pid}, ${rssBefore.toFixed(0)} MB); flooding for ${FLOOD_MS / 1000} s`);

    const started = [
      startAttacker('forged', url, 10, 0),
      startAttacker('bodies', url, 4, 100),
      ...Array.from({ length: SLOW_CONNECTIONS / SLOW_PER_PROCESS }, (_, i) =>
        startAttacker('slow', url, SLOW_PER_PROCESS, 1_000 + i * 1_000),
      ),
    ];
    children.push(...started.map((a) => a.child));
    await Promise.all(started.map((a) => a.ready));
    const controlPort = await freePort();
    const control = spawn(
      process.execPath,
      ['-e', `require('node:http').createServer((q, r) => r.end('ok')).listen(${controlPort}, '127.0.0.1')`],
      { stdio: 'ignore' },
    );
    children.push(control);
    while ((await get(`http://127.0.0.1:${controlPort}/`, 1_000)).status !== 200) await sleep(50);
    // Probe the health port (and the control) on fresh connections from the flood's start until the click after it is answered.
    const controlLatencies: number[] = [];
    const latencies: number[] = [];
    const refusals: string[] = [];
    let probing = true;
    let rssPeak = rssBefore;
    const prober = (async () => {
      const inFlight = new Set<Promise<void>>();
      while (probing) {
        for (const probe of [
          get(healthz, PROBE_TIMEOUT_MS).then((r) => {
            if (r.status === 200) latencies.push(r.ms);
            else refusals.push(r.error ?? `status ${r.status}`);
          }),
          get(`http://127.0.0.1:${controlPort}/`, PROBE_TIMEOUT_MS).then(
            (r) => void (r.status === 200 && controlLatencies.push(r.ms)),
          ),
        ]) {
          inFlight.add(probe);
          void probe.finally(() => inFlight.delete(probe));
        }
        rssPeak = Math.max(rssPeak, rssMb(bridge!.pid!));
        await sleep(PROBE_EVERY_MS);
      }
      await Promise.all(inFlight);
    })();

    for (const a of started) a.child.send('go');
    await sleep(FLOOD_MS);
    for (const a of started) a.child.send('stop');
    const reports = await Promise.all(started.map((a) => a.report));
    const floodEnded = performance.now();

    let okAfterS = NaN;
    let last: number | string = '';
    while (performance.now() - floodEnded < CLICK_DEADLINE_MS) {
      last = await click(url, workflowId);
      if (last === 200) {
        okAfterS = (performance.now() - floodEnded) / 1000;
        break;
      }
      await sleep(200);
    }
    probing = false;
    await prober;
    const rssAfter = rssMb(bridge.pid!);
    const logKb = (statSync(logFile).size - logBefore) / 1024;

    for (const r of reports)
      console.log(
        `  ${r.kind}: ${Object.entries(r.counts)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
      );
    console.log(
      `  control server (same probes, trivial server, own process): p99 ${percentile(controlLatencies, 99).toFixed(1)} ms, p50 ${percentile(controlLatencies, 50).toFixed(1)} ms`,
    );
    console.log(
      `  healthz probes: ${latencies.length} answered, p50 ${percentile(latencies, 50).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms, ${refusals.length} refused${refusals.length ? ` (${[...new Set(refusals)].slice(0, 3).join('; ')})` : ''}`,
    );
    console.log(
      `  bridge RSS ${rssBefore.toFixed(0)} MB before, ${rssPeak.toFixed(0)} MB peak, ${rssAfter.toFixed(0)} MB after; bridge log ${logKb.toFixed(1)} KB during the flood${Number.isNaN(okAfterS) ? `; last click answer: ${last}` : ''}`,
    );
    const ulimit = Number(readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)?.[1]);
    console.log(
      `  file-handle limit per process ${ulimit}: ${SLOW_CONNECTIONS} slow connections from ${SLOW_CONNECTIONS / SLOW_PER_PROCESS} processes`,
    );
    console.log(
      `abuse: healthz_p99_ms=${percentile(latencies, 99).toFixed(1)} refused_healthz=${refusals.length} slack_ok_after_s=${Number.isNaN(okAfterS) ? 'never' : okAfterS.toFixed(2)} rss_growth_mb=${(rssAfter - rssBefore).toFixed(1)}`,
    );
  } finally {
    await Promise.all(children.map(stopChild));
    if (bridge) await stopChild(bridge);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
