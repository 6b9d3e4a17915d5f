import { loadYaml } from '@kubernetes/client-node';
import { skipped, type CheckResult } from '../domain/checks.js';
import { failure, FailureType } from '../domain/failures.js';
import type { Config } from '../src/config/schema.js';
import { fetchFailure } from './http.js';

const TIMEOUT_MS = 10_000;

/** One alert Alertmanager holds as active (firing, neither silenced nor inhibited). */
export interface FiringAlert {
  name: string;
  /** The alert's labels other than alertname, as `k=v` (severity, instance, ...). */
  labels: string;
  startsAt: string;
}

export interface AlertState {
  /** Alerts that hold disruptive maintenance back, by the configured block/ignore lists. */
  blocking: FiringAlert[];
  /** `alerts.configured` (Alertmanager answers and routes somewhere) and `alerts.firing`. */
  checks: CheckResult[];
}

export const NO_ALERTMANAGER = 'no Alertmanager configured (alerts.alertmanagerUrl)';

export const describeAlert = (a: FiringAlert) => `${a.name}${a.labels ? ` {${a.labels}}` : ''} since ${a.startsAt}`;

/** The checklists' "monitoring alerts configured" / "alerts cleared" and kured's alert gate, asked of a real Alertmanager. */
export function createAlertActivities({ alerts }: { alerts: Config['alerts'] }) {
  async function get<T>(path: string): Promise<T> {
    const url = `${alerts.alertmanagerUrl!.replace(/\/$/, '')}${path}`;
    const endpoint = path.split('?')[0];
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' } });
    } catch (err) {
      // Retried: Alertmanager restarting is routine. When retries run out, the run cannot tell whether alerts fire.
      throw failure(
        FailureType.AlertmanagerUnavailable,
        `Alertmanager did not answer ${endpoint}: ${fetchFailure(err, TIMEOUT_MS)}`,
      );
    }
    if (!res.ok)
      throw failure(
        res.status >= 500 ? FailureType.AlertmanagerUnavailable : FailureType.AlertmanagerRefused,
        `Alertmanager answered ${res.status} to ${endpoint}`,
      );
    return (await res.json()) as T;
  }

  return {
    /** What fires now, graded against the gate's lists; Alertmanager unreachable is an error (nobody can say it is quiet). */
    async checkMaintenanceAlerts(): Promise<AlertState> {
      if (!alerts.alertmanagerUrl)
        return {
          blocking: [],
          checks: [
            skipped('alerts.configured', 'alertmanager', NO_ALERTMANAGER),
            skipped('alerts.firing', 'alertmanager', NO_ALERTMANAGER),
          ],
        };
      const [status, active] = await Promise.all([
        get<{ config?: { original?: string } }>('/api/v2/status'),
        get<{ labels: Record<string, string>; startsAt: string }[]>(
          '/api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=false',
        ),
      ]);
      // Receivers with somewhere to send to: a route into an empty receiver alerts nobody.
      const config = (loadYaml(status.config?.original ?? '') ?? {}) as { receivers?: Record<string, unknown>[] };
      const receivers = (config.receivers ?? [])
        .filter((r) => Object.keys(r).some((k) => k.endsWith('_configs')))
        .map((r) => String(r.name));
      const configured: CheckResult =
        receivers.length > 0
          ? {
              check: 'alerts.configured',
              target: 'alertmanager',
              status: 'ok',
              value: receivers.length,
              unit: 'receivers',
              detail: `routes alerts to ${receivers.join(', ')}`,
            }
          : {
              check: 'alerts.configured',
              target: 'alertmanager',
              status: 'warn',
              value: 0,
              unit: 'receivers',
              detail: 'no receiver with a notification config: alerts reach nobody',
            };

      const firing = active
        .map((a): FiringAlert => ({
          name: a.labels.alertname ?? '(unnamed)',
          labels: Object.entries(a.labels)
            .filter(([k]) => k !== 'alertname')
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([k, v]) => `${k}=${v}`)
            .join(', '),
          startsAt: a.startsAt,
        }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.labels.localeCompare(b.labels));
      const blocks = (a: FiringAlert) =>
        !alerts.ignore.includes(a.name) && (!alerts.block || alerts.block.includes(a.name));
      const blocking = firing.filter(blocks);
      const ignored = firing.length - blocking.length;
      const rule = alerts.block
        ? `blocking: ${alerts.block.join(', ')}`
        : `blocking: all but ${alerts.ignore.join(', ') || 'none'}`;
      return {
        blocking,
        checks: [
          configured,
          {
            check: 'alerts.firing',
            target: 'alertmanager',
            status: blocking.length ? 'warn' : 'ok',
            value: blocking.length,
            unit: 'alerts',
            threshold: rule,
            detail:
              (blocking.length ? `firing: ${blocking.map(describeAlert).join('; ')}` : 'no blocking alert firing') +
              (ignored ? ` (${ignored} ignored)` : ''),
          },
        ],
      };
    },
  };
}
