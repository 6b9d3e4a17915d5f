import type { HttpTarget } from '../src/config/schema.js';
import { skipped, type CheckResult } from '../domain/checks.js';
import { fetchFailure } from './http.js';
import { PROMETHEUS_TIMEOUT_MS, prometheusApi } from './prometheus.js';

/** The product's rule groups (deploy/prometheus/rules.yml): loaded, or none of its alerts can fire. */
export const PRODUCT_RULE_GROUPS = ['maintenance_metrics', 'maintenance_alerts', 'watchdog'] as const;
/** The always-firing alert of deploy/prometheus/rules.yml: firing in Prometheus means rules are evaluated end to end. */
export const WATCHDOG_ALERT = 'Watchdog';

interface RulesAnswer {
  groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
}
interface AlertmanagersAnswer {
  activeAlertmanagers: { url: string }[];
  droppedAlertmanagers: { url: string }[];
}
interface AlertsAnswer {
  alerts: { labels: Record<string, string>; state: string }[];
}

/**
 * Seed: "Verify monitoring alerts are functioning", beyond a metrics endpoint answering: Prometheus
 * has the product's rule groups loaded and healthy, sends alerts to at least one Alertmanager, and
 * the always-firing watchdog alert is firing (rules evaluated end to end). Alertmanager's own
 * delivery is outside this check.
 */
export function createMonitoringActivities() {
  return {
    async checkAlertingPipeline(prometheus: HttpTarget | undefined): Promise<CheckResult[]> {
      if (!prometheus)
        return [
          skipped(
            'monitoring.alerting',
            '-',
            'no Prometheus configured (targets.prometheus): alert rules, Alertmanager link and watchdog not checked',
          ),
        ];
      const target = prometheus.name;
      const attempt = async (
        check: string,
        threshold: string,
        fn: () => Promise<Omit<CheckResult, 'check' | 'target' | 'threshold'>>,
      ): Promise<CheckResult> => {
        try {
          return { check, target, threshold, ...(await fn()) };
        } catch (err) {
          return {
            check,
            target,
            threshold,
            status: 'critical',
            detail: `Prometheus unreadable: ${fetchFailure(err, PROMETHEUS_TIMEOUT_MS)}`,
          };
        }
      };
      return Promise.all([
        attempt('monitoring.rules', `groups ${PRODUCT_RULE_GROUPS.join(', ')} loaded, every rule healthy`, async () => {
          const { groups } = await prometheusApi<RulesAnswer>(prometheus.url, 'api/v1/rules');
          const missing = PRODUCT_RULE_GROUPS.filter((g) => !groups.some((x) => x.name === g));
          const broken = groups
            .filter((g) => (PRODUCT_RULE_GROUPS as readonly string[]).includes(g.name))
            .flatMap((g) =>
              g.rules.filter((r) => r.health === 'err').map((r) => `${r.name}: ${r.lastError ?? 'error'}`),
            );
          const rules = groups.reduce((n, g) => n + g.rules.length, 0);
          if (missing.length)
            return {
              status: 'critical',
              value: missing.length,
              unit: 'groups missing',
              detail: `not loaded: ${missing.join(', ')}`,
            };
          if (broken.length)
            return {
              status: 'critical',
              value: broken.length,
              unit: 'rules failing',
              detail: broken.join('; ').slice(0, 500),
            };
          return {
            status: 'ok',
            value: rules,
            unit: 'rules',
            detail: `${groups.length} group(s) loaded, every rule healthy`,
          };
        }),
        attempt('monitoring.alertmanagers', 'at least one active Alertmanager', async () => {
          const { activeAlertmanagers } = await prometheusApi<AlertmanagersAnswer>(
            prometheus.url,
            'api/v1/alertmanagers',
          );
          return activeAlertmanagers.length > 0
            ? {
                status: 'ok',
                value: activeAlertmanagers.length,
                unit: 'alertmanagers',
                detail: `alerts go to ${activeAlertmanagers.length} Alertmanager(s)`,
              }
            : {
                status: 'critical',
                value: 0,
                unit: 'alertmanagers',
                detail: 'Prometheus sends its alerts to no Alertmanager: nobody would be notified',
              };
        }),
        attempt('monitoring.watchdog', `${WATCHDOG_ALERT} firing`, async () => {
          const { alerts } = await prometheusApi<AlertsAnswer>(prometheus.url, 'api/v1/alerts');
          const firing = alerts.some((a) => a.labels.alertname === WATCHDOG_ALERT && a.state === 'firing');
          return firing
            ? {
                status: 'ok',
                value: alerts.length,
                unit: 'alerts',
                detail: `${WATCHDOG_ALERT} firing: rules are evaluated and alerts raised`,
              }
            : {
                status: 'critical',
                value: alerts.length,
                unit: 'alerts',
                detail: `${WATCHDOG_ALERT} is not firing: alert rules are not being evaluated`,
              };
        }),
      ]);
    },
  };
}
