import type { AlertState, FiringAlert, WindowSilence } from '../domain/alerts.js';
import type { Skipped } from '../domain/cluster.js';
import { skipped, type CheckResult } from '../domain/checks.js';
import { failure, FailureType } from '../domain/failures.js';
import { matcherMatches, type Config, type SilenceMatcher } from '../src/config/schema.js';
import { fetchFailure } from './http.js';

const TIMEOUT_MS = 10_000;

export interface WindowSilenceRequest {
  workflowId: string;
  runId: string;
  /** What the run works on (a node, a deployment): named in the silence's comment. */
  target: string;
  /** The window's end, bounded by the run's own timeouts: a crashed worker cannot leave the silence behind for longer. */
  endsAt: string;
}

interface ApiSilence {
  id: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual?: boolean }[];
  endsAt: string;
  comment: string;
  status: { state: 'active' | 'pending' | 'expired' };
}

export const NO_ALERTMANAGER = 'no Alertmanager configured (alerts.alertmanagerUrl)';

export const describeAlert = (a: FiringAlert) => `${a.name}${a.labels ? ` {${a.labels}}` : ''} since ${a.startsAt}`;

const describeMatcher = (m: SilenceMatcher) =>
  `${m.name}${m.isEqual ? '' : '!'}${m.isRegex ? '=~' : '='}${JSON.stringify(m.value)}`;
const describeMatchers = (ms: readonly SilenceMatcher[]) => ms.map(describeMatcher).join(', ');
/** The same matchers in any order. */
const matcherKey = (ms: readonly SilenceMatcher[]) => ms.map(describeMatcher).sort().join('\n');

/** Marks a silence as one run's own: how a retried create finds it instead of adding a second. */
const runMarker = (r: Pick<WindowSilenceRequest, 'workflowId' | 'runId'>) =>
  `[workflow ${r.workflowId} run ${r.runId}]`;

/** The checklists' "monitoring alerts configured" / "alerts cleared", kured's alert gate and the window's silence, asked of a real Alertmanager. */
export function createAlertActivities({ alerts }: { alerts: Config['alerts'] }) {
  async function request(method: string, path: string, body?: unknown): Promise<Response> {
    if (!alerts.alertmanagerUrl) throw failure(FailureType.NotConfigured, NO_ALERTMANAGER);
    const url = `${alerts.alertmanagerUrl.replace(/\/$/, '')}${path}`;
    try {
      return await fetch(url, {
        method,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      // Retried: Alertmanager restarting is routine. When retries run out, the run cannot tell whether alerts fire.
      throw failure(
        FailureType.AlertmanagerUnavailable,
        `Alertmanager did not answer ${endpoint(method, path)}: ${fetchFailure(err, TIMEOUT_MS)}`,
      );
    }
  }
  const endpoint = (method: string, path: string) => `${method === 'GET' ? '' : `${method} `}${path.split('?')[0]}`;
  const refused = (res: Response, method: string, path: string) =>
    failure(
      res.status >= 500 ? FailureType.AlertmanagerUnavailable : FailureType.AlertmanagerRefused,
      `Alertmanager answered ${res.status} to ${endpoint(method, path)}`,
    );
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await request(method, path, body);
    if (!res.ok) throw refused(res, method, path);
    return (await res.json()) as T;
  }
  const get = <T>(path: string) => call<T>('GET', path);

  /** Active alerts (neither silenced nor inhibited), in a stable order, with their labels for matching. */
  async function activeAlerts(): Promise<{ alert: FiringAlert; labels: Record<string, string> }[]> {
    const active = await get<{ labels: Record<string, string>; startsAt: string }[]>(
      '/api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=false',
    );
    return active
      .map((a) => ({
        labels: a.labels,
        alert: {
          name: a.labels.alertname ?? '(unnamed)',
          labels: Object.entries(a.labels)
            .filter(([k]) => k !== 'alertname')
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([k, v]) => `${k}=${v}`)
            .join(', '),
          startsAt: a.startsAt,
        },
      }))
      .sort((a, b) => a.alert.name.localeCompare(b.alert.name) || a.alert.labels.localeCompare(b.alert.labels));
  }
  const blocks = (a: FiringAlert) =>
    !alerts.ignore.includes(a.name) && (!alerts.block || alerts.block.includes(a.name));
  const rule = () =>
    alerts.block ? `blocking: ${alerts.block.join(', ')}` : `blocking: all but ${alerts.ignore.join(', ') || 'none'}`;

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
        activeAlerts(),
      ]);
      // Receivers with somewhere to send to: a route into an empty receiver alerts nobody.
      // (Its YAML parser comes with the Kubernetes client, imported when first needed: see src/clients.ts.)
      const { loadYaml } = await import('@kubernetes/client-node');
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

      const firing = active.map((a) => a.alert);
      const blocking = firing.filter(blocks);
      const ignored = firing.length - blocking.length;
      return {
        blocking,
        silenceConfigured: alerts.silenceDuringWindows !== undefined,
        checks: [
          configured,
          {
            check: 'alerts.firing',
            target: 'alertmanager',
            status: blocking.length ? 'warn' : 'ok',
            value: blocking.length,
            unit: 'alerts',
            threshold: rule(),
            detail:
              (blocking.length ? `firing: ${blocking.map(describeAlert).join('; ')}` : 'no blocking alert firing') +
              (ignored ? ` (${ignored} ignored)` : ''),
          },
        ],
      };
    },

    /**
     * The post-maintenance checklist's "monitoring alerts cleared": blocking alerts, and the alerts
     * the window expected (the silence's matchers), still firing unsilenced once the work is done.
     */
    async checkAlertsCleared(): Promise<CheckResult[]> {
      if (!alerts.alertmanagerUrl) return [skipped('alerts.cleared', 'alertmanager', NO_ALERTMANAGER)];
      const expected = alerts.silenceDuringWindows?.matchers;
      const active = await activeAlerts();
      const firing = active
        .filter((a) => blocks(a.alert) || expected?.every((m) => matcherMatches(m, a.labels[m.name] ?? '')))
        .map((a) => a.alert);
      const ignored = active.length - firing.length;
      return [
        {
          check: 'alerts.cleared',
          target: 'alertmanager',
          status: firing.length ? 'warn' : 'ok',
          value: firing.length,
          unit: 'alerts',
          threshold: `${rule()}${expected ? `; expected during the window: ${describeMatchers(expected)}` : ''}`,
          detail:
            (firing.length
              ? `still firing: ${firing.map(describeAlert).join('; ')}`
              : `no ${expected ? 'blocking or expected' : 'blocking'} alert firing`) +
            (ignored ? ` (${ignored} ignored)` : ''),
        },
      ];
    },

    /**
     * Silences the alerts the window expects (config `alerts.silenceDuringWindows`) until `endsAt`.
     * Idempotent: a silence of this run (its marker in the comment) with the same matchers, still
     * pending or active, is returned instead of creating another.
     */
    async createWindowSilence(req: WindowSilenceRequest): Promise<WindowSilence | Skipped> {
      const spec = alerts.silenceDuringWindows;
      if (!spec) return { skipped: 'no alerts.silenceDuringWindows configured' };
      if (Date.parse(req.endsAt) <= Date.now()) return { skipped: `the window ended at ${req.endsAt}` };
      const matchers = describeMatchers(spec.matchers);
      const marker = runMarker(req);
      const key = matcherKey(spec.matchers);
      const same = (s: ApiSilence) => matcherKey(s.matchers.map((m) => ({ ...m, isEqual: m.isEqual ?? true }))) === key;
      const existing = (await get<ApiSilence[]>('/api/v2/silences')).find(
        (s) => s.status.state !== 'expired' && s.comment.includes(marker) && same(s),
      );
      if (existing) return { id: existing.id, endsAt: existing.endsAt, matchers, created: false };
      const { silenceID } = await call<{ silenceID: string }>('POST', '/api/v2/silences', {
        matchers: spec.matchers,
        startsAt: new Date().toISOString(),
        endsAt: req.endsAt,
        createdBy: spec.createdBy,
        comment: `${spec.comment}: ${req.target} ${marker}`,
      });
      return { id: silenceID, endsAt: req.endsAt, matchers, created: true };
    },

    /** Ends a window's silence now; one already expired or gone is fine (a retry, or someone expired it by hand). */
    async expireWindowSilence({ id }: { id: string }): Promise<{ id: string; detail: string }> {
      const path = `/api/v2/silence/${encodeURIComponent(id)}`;
      const res = await request('DELETE', path);
      if (res.ok) return { id, detail: 'expired' };
      if (res.status === 404) return { id, detail: 'absent: already gone' };
      // Alertmanager answers an error to expiring a silence it does not hold (0.25: 500) or, in later versions, one already expired.
      const known = await request('GET', path);
      if (known.status === 404) return { id, detail: 'absent: already gone' };
      if (!known.ok) throw refused(known, 'GET', path);
      const silence = (await known.json()) as ApiSilence;
      if (silence.status.state === 'expired') return { id, detail: `already expired at ${silence.endsAt}` };
      throw refused(res, 'DELETE', path);
    },
  };
}
