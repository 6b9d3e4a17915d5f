import { connect, type PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { failure, FailureType } from '../domain/failures.js';
import { redactUrl } from '../src/config/redact.js';
import type { CacheClearTarget, HttpTarget, TlsTarget } from '../src/config/schema.js';
import { gradeBelow, skipped, type CheckResult } from '../domain/checks.js';
import type { Thresholds } from '../domain/thresholds.js';
import { withoutUrls } from '../domain/text.js';

const PROBE_TIMEOUT_MS = 15_000;

interface ProbeOutcome {
  status?: number;
  elapsedMs: number;
  error?: string;
  body?: string;
}

/** Why a fetch got no answer: the timeout, else the socket's error code; never the URL again (callers name the target). */
export function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.name === 'TimeoutError'
    ? `no response within ${timeoutMs} ms`
    : withoutUrls(e.cause?.code ?? e.cause?.message ?? e.message);
}

async function timedGet(url: string, timeoutMs: number): Promise<ProbeOutcome> {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    // Read the whole body: like curl's time_total, the budget covers the full response.
    const body = await res.text();
    return { status: res.status, elapsedMs: Math.round(performance.now() - started), body };
  } catch (err) {
    return { elapsedMs: Math.round(performance.now() - started), error: fetchFailure(err, timeoutMs) };
  }
}

function statusMatches(target: HttpTarget, status: number): boolean {
  return target.expectStatus ? status === target.expectStatus : status >= 200 && status < 400;
}

const CACHE_CLEAR_TIMEOUT_MS = 30_000;

export function createHttpActivities({ cacheClearTokens = {} }: { cacheClearTokens?: Record<string, string> } = {}) {
  return {
    /**
     * Seed app-cache-cleanup: `curl -X POST .../admin/cache/clear -H "Authorization: Bearer $ADMIN_TOKEN"`.
     * Clearing a cache twice is harmless, so unreachable endpoints and 5xx answers are retried; a 4xx
     * (a wrong token, a wrong path) is not, since a retry cannot fix it. The token stays in this process.
     */
    async clearApplicationCache(target: CacheClearTarget): Promise<CheckResult> {
      const token = cacheClearTokens[target.name];
      const where = redactUrl(target.url);
      const started = performance.now();
      let status: number;
      try {
        const res = await fetch(target.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(CACHE_CLEAR_TIMEOUT_MS),
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
        await res.arrayBuffer();
        status = res.status;
      } catch (err) {
        throw failure(
          FailureType.CacheClearUnreachable,
          `${where} unreachable: ${fetchFailure(err, CACHE_CLEAR_TIMEOUT_MS)}`,
        );
      }
      const elapsedMs = Math.round(performance.now() - started);
      if (status >= 500) throw failure(FailureType.CacheClearFailed, `${where} answered HTTP ${status}`);
      if (status >= 300)
        throw failure(
          FailureType.CacheClearRejected,
          `${where} answered HTTP ${status}${status === 401 || status === 403 ? ' (check the token)' : ''}`,
        );
      return {
        check: 'cache-clear',
        target: target.name,
        status: 'ok',
        value: elapsedMs,
        unit: 'ms',
        threshold: 'answers 2xx',
        detail: `${where} answered HTTP ${status} in ${elapsedMs} ms`,
      };
    },

    /** Seed: "Check application availability and response times" (curl -f, time_total). */
    async probeHttpEndpoints(targets: HttpTarget[], thresholds: Thresholds): Promise<CheckResult[]> {
      if (targets.length === 0) return [skipped('http', '-', 'no HTTP targets configured')];
      return Promise.all(
        targets.map(async (t): Promise<CheckResult> => {
          const budget = t.budgetMs ?? thresholds.responseTimeBudgetMs;
          const threshold = `status ${t.expectStatus ?? '2xx/3xx'}, warn > ${budget} ms`;
          // Give a slow endpoint room to answer so its time is measured, not just "timed out".
          const r = await timedGet(t.url, Math.max(PROBE_TIMEOUT_MS, budget * 3));
          const base = { check: 'http', target: t.name, value: r.elapsedMs, unit: 'ms', threshold };
          if (r.error) return { ...base, status: 'critical', detail: `${redactUrl(t.url)} unreachable: ${r.error}` };
          if (!statusMatches(t, r.status!))
            return { ...base, status: 'critical', detail: `${t.url} answered HTTP ${r.status}` };
          if (r.elapsedMs > budget)
            return {
              ...base,
              status: 'warn',
              detail: `${t.url} answered HTTP ${r.status} in ${r.elapsedMs} ms, over the ${budget} ms budget`,
            };
          return { ...base, status: 'ok', detail: `${t.url} answered HTTP ${r.status} in ${r.elapsedMs} ms` };
        }),
      );
    },

    /** Seed: "Verify monitoring alerts are functioning": the metrics endpoints answer with metrics. */
    async checkMonitoringAlive(targets: HttpTarget[]): Promise<CheckResult[]> {
      if (targets.length === 0) return [skipped('monitoring', '-', 'no monitoring endpoints configured')];
      return Promise.all(
        targets.map(async (t): Promise<CheckResult> => {
          const r = await timedGet(t.url, 10_000);
          const base = {
            check: 'monitoring',
            target: t.name,
            value: r.elapsedMs,
            unit: 'ms',
            threshold: 'answers HTTP 200 with metrics',
          };
          if (r.error) return { ...base, status: 'critical', detail: `${redactUrl(t.url)} unreachable: ${r.error}` };
          if (r.status !== 200) return { ...base, status: 'critical', detail: `${t.url} answered HTTP ${r.status}` };
          const series = (r.body ?? '').split('\n').filter((l) => l && !l.startsWith('#')).length;
          if (series === 0) return { ...base, status: 'warn', detail: `${t.url} answered but exposes no metrics` };
          return { ...base, status: 'ok', detail: `${t.url} exposes ${series} series` };
        }),
      );
    },

    /** Seed: "Check certificate expiration dates (> 30 days remaining)", by a real TLS handshake. */
    async checkCertificateExpiry(targets: TlsTarget[], thresholds: Thresholds): Promise<CheckResult[]> {
      if (targets.length === 0) return [skipped('tls', '-', 'no TLS endpoints configured')];
      const threshold = `warn < ${thresholds.certWarnDays} days, critical < ${thresholds.certCriticalDays} days`;
      return Promise.all(
        targets.map(async (t): Promise<CheckResult> => {
          const base = { check: 'tls', target: t.name, unit: 'days', threshold };
          try {
            const { cert, authorizationError } = await handshake(t.host, t.port);
            const validTo = new Date(cert.valid_to);
            const daysLeft = Math.round(((validTo.getTime() - Date.now()) / 86_400_000) * 10) / 10;
            let status = gradeBelow(daysLeft, thresholds.certWarnDays, thresholds.certCriticalDays);
            const trust = authorizationError ? `; not trusted: ${authorizationError}` : '';
            if (trust && status === 'ok') status = 'warn';
            const detail =
              daysLeft < 0
                ? `${t.host}:${t.port} certificate expired ${validTo.toISOString()}${trust}`
                : `${t.host}:${t.port} certificate for ${cert.subject?.CN ?? '?'} expires ${validTo.toISOString()} (${daysLeft} days)${trust}`;
            return { ...base, status, value: daysLeft, detail };
          } catch (err) {
            return {
              ...base,
              status: 'critical',
              detail: `${t.host}:${t.port} TLS handshake failed: ${(err as Error).message}`,
            };
          }
        }),
      );
    },
  };
}

function handshake(host: string, port: number): Promise<{ cert: PeerCertificate; authorizationError?: string }> {
  return new Promise((resolve, reject) => {
    // Verification is reported, not enforced: an untrusted certificate must still be read to report its expiry.
    const socket = connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: false,
      timeout: 10_000,
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      socket.end();
      if (!cert || !cert.valid_to) reject(new Error('server presented no certificate'));
      else resolve({ cert, authorizationError });
    });
    socket.once('timeout', () => socket.destroy(new Error('handshake timed out after 10000 ms')));
    socket.once('error', (err) => reject(err));
  });
}
