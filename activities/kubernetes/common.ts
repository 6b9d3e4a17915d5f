import { heartbeat, sleep } from '@temporalio/activity';
import type { KubeConfig } from '@kubernetes/client-node';
import type { HttpTarget } from '../../domain/http-target.js';

export interface KubernetesDeps {
  /** Null when no cluster is configured: every activity then answers "skipped: no cluster configured". */
  kube: KubeConfig | null;
  /** The application's namespace (deployments, jobs, claims, error logs). */
  namespace: string;
  appLabelSelector: string;
  /**
   * Prometheus (config `targets.prometheus`), when there is one: node-exporter's filesystem figures and
   * the kubelets' container working set.
   */
  prometheus?: HttpTarget;
  /** Node root filesystems are graded against these (config `thresholds.diskWarnPercent`, `diskCriticalPercent`). */
  diskThresholds?: { warnPercent: number; criticalPercent: number };
}

export interface ApiStatus {
  code?: number;
  reason?: string;
  message: string;
}

/** The Kubernetes `Status` behind a client error: HTTP code, reason and the server's message. */
export function apiStatus(err: unknown): ApiStatus {
  const e = err as { code?: unknown; body?: unknown; message?: string };
  const code = typeof e.code === 'number' ? e.code : undefined;
  let body: { reason?: string; message?: string; details?: { causes?: { message?: string }[] } } | undefined;
  try {
    body = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as typeof body);
  } catch {
    body = undefined;
  }
  const causes = (body?.details?.causes ?? []).map((c) => c.message).filter(Boolean);
  const message = body?.message ? [body.message, ...causes].join(' ') : (e.message ?? String(err));
  return { code, reason: body?.reason, message };
}

export const isNotFound = (err: unknown) => apiStatus(err).code === 404;

/**
 * Calls `check` every `intervalMs` until it returns a value; heartbeats what `progress` says on
 * each round (so a dead worker is noticed and cancellation is delivered); throws `onTimeout()`
 * once `timeoutMs` has passed.
 */
export async function pollUntil<T>(options: {
  timeoutMs: number;
  intervalMs: number;
  check: () => Promise<T | undefined>;
  progress: () => unknown;
  onTimeout: () => Error;
}): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const done = await options.check();
    if (done !== undefined) return done;
    heartbeat(options.progress());
    if (Date.now() >= deadline) throw options.onTimeout();
    await sleep(Math.min(options.intervalMs, Math.max(1, deadline - Date.now())));
  }
}

type Obj = {
  metadata?: { annotations?: Record<string, string> | undefined; labels?: Record<string, string> | undefined };
};
export const annotation = (o: Obj | undefined, key: string): string | undefined => o?.metadata?.annotations?.[key];

/** JSON with sorted keys and no undefined fields: compares API objects however they were built. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([, x]) => x !== undefined)
            .sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}
