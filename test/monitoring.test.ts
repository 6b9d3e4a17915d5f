// "Verify monitoring alerts are functioning" against a real Prometheus (Debian's, installed by
// scripts/bootstrap.sh): the product's rules loaded, an Alertmanager to send to, the watchdog firing.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createMonitoringActivities, PRODUCT_RULE_GROUPS, WATCHDOG_ALERT } from '../activities/monitoring.js';
import { freePort } from './helpers/net.js';
import { RULES, startPrometheus as start, type TestPrometheus } from './helpers/prometheus.js';

const started: TestPrometheus[] = [];
const startPrometheus = async (ruleFiles: string[], alertmanagers: string[]) => {
  const p = await start({ ruleFiles, alertmanagers });
  started.push(p);
  return p;
};

describe('the alerting pipeline check', () => {
  afterAll(() => {
    for (const p of started) p.stop();
  });
  const { checkAlertingPipeline } = createMonitoringActivities();

  it('names the product rule groups the rules file defines', () => {
    const groups = [...readFileSync(RULES, 'utf8').matchAll(/^ {2}- name: (\S+)$/gm)].map((m) => m[1]);
    expect(groups).toEqual([...PRODUCT_RULE_GROUPS]);
  });

  it('is ok when the rules are loaded, an Alertmanager is configured and the watchdog fires', async () => {
    const prometheus = await startPrometheus([RULES], [`127.0.0.1:${await freePort()}`]);
    await prometheus.settled();
    const findings = await checkAlertingPipeline({ name: 'prometheus', url: prometheus.url });
    expect(findings.map((f) => [f.check, f.status, f.detail])).toEqual([
      ['monitoring.rules', 'ok', '3 group(s) loaded, every rule healthy'],
      ['monitoring.alertmanagers', 'ok', 'alerts go to 1 Alertmanager(s)'],
      ['monitoring.watchdog', 'ok', `${WATCHDOG_ALERT} firing: rules are evaluated and alerts raised`],
    ]);
  });

  it('is critical when Prometheus has no rules and no Alertmanager, and when it does not answer; skipped when none is configured', async () => {
    const { url } = await startPrometheus([], []);
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
