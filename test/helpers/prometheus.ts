// A real Prometheus (Debian's, installed by scripts/bootstrap.sh) on loopback, evaluating and
// scraping every second, in a temporary directory of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { until } from './stack.js';

export const RULES = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus', 'rules.yml');

export interface PrometheusOptions {
  ruleFiles?: string[];
  alertmanagers?: string[];
  /** host:port targets scraped with their own labels kept (honor_labels), e.g. a fake node-exporter. */
  scrapeTargets?: string[];
  /**
   * Kubelets scraped at their resource metrics endpoint as kube-prometheus-stack does, found through
   * kwok's service discovery (the suite's `kubeletMetricsDiscovery`); only `nodes` are kept.
   */
  kubelets?: { discoveryUrl: string; nodes: string[] };
  /** Listen here (a port picked for a config written before Prometheus starts); a free one otherwise. */
  port?: number;
}

export interface TestPrometheus {
  url: string;
  /** Waits until the rules are evaluated (the watchdog fires) and every Alertmanager is discovered, as a scheduled run finds them. */
  settled(): Promise<void>;
  stop(): void;
}

export async function startPrometheus({
  ruleFiles = [],
  alertmanagers = [],
  scrapeTargets = [],
  kubelets,
  port,
}: PrometheusOptions = {}): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'maint-prometheus-'));
  port ??= await freePort();
  const list = (items: string[]) => `[${items.map((i) => `'${i}'`).join(', ')}]`;
  const alerting = alertmanagers.length
    ? `alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ${list(alertmanagers)}\n`
    : '';
  const jobs = [
    ...(scrapeTargets.length
      ? [`  - job_name: node\n    honor_labels: true\n    static_configs:\n      - targets: ${list(scrapeTargets)}\n`]
      : []),
    ...(kubelets
      ? [
          `  - job_name: kubelet\n    http_sd_configs:\n      - url: '${kubelets.discoveryUrl}'\n        refresh_interval: 1s\n` +
            `    relabel_configs:\n      - source_labels: [__metrics_path__]\n        regex: '/metrics/nodes/(${kubelets.nodes.join('|')})/metrics/resource'\n        action: keep\n`,
        ]
      : []),
  ];
  const scrape = jobs.length ? `scrape_configs:\n${jobs.join('')}` : '';
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  evaluation_interval: 1s\n  scrape_interval: 1s\nrule_files: ${list(ruleFiles)}\n${alerting}${scrape}`,
  );
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = () => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      'Prometheus ready',
      async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200,
      60_000,
    );
  } catch (err) {
    stop();
    throw err;
  }
  return {
    url,
    stop,
    async settled() {
      // Rule evaluation and Alertmanager discovery start after /-/ready.
      await until(
        'the rules evaluated',
        async () => JSON.stringify(await (await fetch(`${url}/api/v1/alerts`)).json()).includes('"firing"'),
        60_000,
      );
      await until(
        'Alertmanager discovered',
        async () =>
          JSON.stringify(await (await fetch(`${url}/api/v1/alertmanagers`)).json()).includes('/api/v2/alerts'),
        60_000,
      );
    },
  };
}
