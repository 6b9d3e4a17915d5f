// "Verify monitoring alerts are functioning" against a real Prometheus (Debian's, installed by
// scripts/bootstrap.sh): the product's rules loaded, an Alertmanager to send to, the watchdog firing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMonitoringActivities, PRODUCT_RULE_GROUPS, WATCHDOG_ALERT } from '../activities/monitoring.js';
import { freePort } from './helpers/net.js';
import { startPrometheus as startTestPrometheus, type TestPrometheus } from './helpers/prometheus.js';
import { until } from './helpers/stack.js';

const RULES = join(import.meta.dirname, '..', 'deploy', 'prometheus', 'rules.yml');
const started: TestPrometheus[] = [];

/** A Prometheus evaluating every second, with the given rule files and Alertmanager addresses. */
async function startPrometheus(ruleFiles: string[], alertmanagers: string[]): Promise<string> {
  const prometheus = await startTestPrometheus({ ruleFiles, alertmanagers });
  started.push(prometheus);
  return prometheus.url;
}

describe('the alerting pipeline check', () => {
  afterAll(() => {
    for (const s of started) s.stop();
  });
  const { checkAlertingPipeline } = createMonitoringActivities();

  it('names the product rule groups the rules file defines', () => {
    const groups = [...readFileSync(RULES, 'utf8').matchAll(/^ {2}- name: (\S+)$/gm)].map((m) => m[1]);
    expect(groups).toEqual([...PRODUCT_RULE_GROUPS]);
  });

  it('is ok when the rules are loaded, an Alertmanager is configured and the watchdog fires', async () => {
    const url = await startPrometheus([RULES], [`127.0.0.1:${await freePort()}`]);
    // Rule evaluation and Alertmanager discovery start after /-/ready: wait for both, as a scheduled run would find them.
    await until(
      `${WATCHDOG_ALERT} firing`,
      async () => JSON.stringify(await (await fetch(`${url}/api/v1/alerts`)).json()).includes('"firing"'),
      60_000,
    );
    await until(
      'Alertmanager discovered',
      async () => JSON.stringify(await (await fetch(`${url}/api/v1/alertmanagers`)).json()).includes('/api/v2/alerts'),
      60_000,
    );
    const findings = await checkAlertingPipeline({ name: 'prometheus', url });
    expect(findings.map((f) => [f.check, f.status, f.detail])).toEqual([
      ['monitoring.rules', 'ok', '3 group(s) loaded, every rule healthy'],
      ['monitoring.alertmanagers', 'ok', 'alerts go to 1 Alertmanager(s)'],
      ['monitoring.watchdog', 'ok', `${WATCHDOG_ALERT} firing: rules are evaluated and alerts raised`],
    ]);
  });

  it('is critical when Prometheus has no rules and no Alertmanager, and when it does not answer; skipped when none is configured', async () => {
    const url = await startPrometheus([], []);
    const findings = await checkAlertingPipeline({ name: 'prometheus', url });
    expect(findings.map((f) => [f.check, f.status])).toEqual([
      ['monitoring.rules', 'critical'],
      ['monitoring.alertmanagers', 'critical'],
      ['monitoring.watchdog', 'critical'],
    ]);
    expect(findings[0]!.detail).toContain('not loaded: maintenance_metrics, maintenance_alerts, watchdog');
    expect(findings[1]!.detail).toContain('no Alertmanager');
    const down = await checkAlertingPipeline({ name: 'gone', url: `http://127.0.0.1:${await freePort()}` });
    expect(down.length).toBeGreaterThan(0);
    expect(down.every((f) => f.status === 'critical' && f.detail.startsWith('Prometheus unreadable: '))).toBe(true);
    expect(await checkAlertingPipeline(undefined)).toEqual([
      expect.objectContaining({ check: 'monitoring.alerting', status: 'skipped' }),
    ]);
  });
});
