// `npm run up` on a warm machine (packages, binaries, workflow bundle cache, demo database and
// backup already there): process start to the first health check's result, local Kubernetes
// cluster included. One unmeasured round warms, three are measured; the line takes the worst.
// Every port is a free one, so a running `npm run up` elsewhere is left alone. Goal: <= 10 s.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/net.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = 3;

/** Seconds from start to the `up: <workflowId>: <summary>` line; then Ctrl-C, as a person would. */
async function upOnce(env: NodeJS.ProcessEnv): Promise<{ seconds: number; summary: string }> {
  const t0 = performance.now();
  // What `npm run up` runs, with `exec` so the signal reaches up.ts itself.
  const child = spawn('bash', ['-c', 'bash scripts/bootstrap.sh && exec node --import tsx/esm dev/up.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  try {
    return await new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const result = /^up: (daily-health-check\S*): (.*)$/m.exec(
          output.slice(output.indexOf('TRIXTECH maintenance is up.')),
        );
        if (output.includes('TRIXTECH maintenance is up.') && result)
          resolve({ seconds: (performance.now() - t0) / 1000, summary: result[2]! });
      });
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) =>
        reject(new Error(`npm run up exited with ${code} before a health check result:\n${output.slice(-2000)}`)),
      );
    });
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  }
}

export async function main(): Promise<void> {
  const [temporal, ui, metrics, sdkMetrics, bridge, bridgeHealth, slackEmulator] = await Promise.all(
    Array.from({ length: 7 }, () => freePort()),
  );
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
    TEMPORAL_UI_PORT: String(ui),
    METRICS_PORT: String(metrics),
    SDK_METRICS_PORT: String(sdkMetrics),
    BRIDGE_PORT: String(bridge),
    BRIDGE_HEALTH_PORT: String(bridgeHealth),
    SLACK_EMULATOR_PORT: String(slackEmulator),
  };
  const warmUp = await upOnce(env);
  console.log(`warm-up round: ${warmUp.seconds.toFixed(1)} s (${warmUp.summary})`);
  const rounds: number[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const { seconds, summary } = await upOnce(env);
    rounds.push(seconds);
    console.log(`round ${i}: ${seconds.toFixed(1)} s to the first health check result (${summary})`);
  }
  console.log(`up: warm_s=${Math.max(...rounds).toFixed(1)} best_s=${Math.min(...rounds).toFixed(1)} rounds=${ROUNDS}`);
}
