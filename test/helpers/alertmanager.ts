// A real Alertmanager (Debian's prometheus-alertmanager, installed by scripts/bootstrap.sh) on a
// loopback port of its own, clustering off; alerts are posted to it as Prometheus would.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/net.js';
import { waitUntil } from './cluster.js';

export interface TestAlertmanager {
  url: string;
  /** Posts a firing alert (it stays active until resolved or 5 minutes pass). */
  fire(alertname: string, labels?: Record<string, string>): Promise<void>;
  /** Posts the same alert with an end in the past: Alertmanager marks it resolved. */
  resolve(alertname: string, labels?: Record<string, string>): Promise<void>;
  /** Every silence Alertmanager holds (active, pending and expired), as GET /api/v2/silences answers. */
  silences(): Promise<AlertmanagerSilence[]>;
  stop(): Promise<void>;
}

export interface AlertmanagerSilence {
  id: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  status: { state: 'active' | 'pending' | 'expired' };
}

// One receiver that notifies somewhere (nobody listens there: delivery is not under test) and one that notifies nobody.
const CONFIG = `route:
  receiver: oncall
  group_wait: 1h
receivers:
  - name: oncall
    webhook_configs:
      - url: http://127.0.0.1:9/alerts
  - name: blackhole
`;

export async function startAlertmanager(): Promise<TestAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'maint-alertmanager-'));
  writeFileSync(join(dir, 'alertmanager.yml'), CONFIG);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus-alertmanager',
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil(
    'Alertmanager to be ready',
    async () =>
      (await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      )) || undefined,
    30_000,
  );

  const post = async (alertname: string, labels: Record<string, string>, endsAt?: string) => {
    const res = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ labels: { alertname, ...labels }, ...(endsAt ? { endsAt } : {}) }]),
    });
    if (!res.ok) throw new Error(`Alertmanager answered ${res.status} to an alert: ${await res.text()}`);
  };
  return {
    url,
    fire: (name, labels = {}) => post(name, labels),
    resolve: (name, labels = {}) => post(name, labels, new Date(Date.now() - 1000).toISOString()),
    async silences() {
      const res = await fetch(`${url}/api/v2/silences`);
      if (!res.ok) throw new Error(`Alertmanager answered ${res.status} to GET /api/v2/silences`);
      return (await res.json()) as AlertmanagerSilence[];
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
