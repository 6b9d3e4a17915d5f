import type { HttpTarget } from '../domain/http-target.js';
import { fetchFailure } from './http.js';

export const PROMETHEUS_TIMEOUT_MS = 10_000;

/**
 * GET from Prometheus' HTTP API: the answer's `data`. Errors name the API path, never the URL
 * (callers name the Prometheus by its configured name).
 */
export async function prometheusApi<T>(base: string, path: string, params: Record<string, string> = {}): Promise<T> {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { signal: AbortSignal.timeout(PROMETHEUS_TIMEOUT_MS) }).catch((err: unknown) => {
    throw new PrometheusUnreachable(fetchFailure(err, PROMETHEUS_TIMEOUT_MS));
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${path}`);
  const body = (await res.json()) as { status?: string; data?: T };
  if (body.status !== 'success' || !body.data) throw new Error(`${path} did not answer success`);
  return body.data;
}

/** No HTTP answer at all (refused, reset, timed out), as opposed to an answer that is not a result. */
export class PrometheusUnreachable extends Error {}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/**
 * An instant query's vector: each series' labels and its value now. Fails with an error naming the
 * Prometheus and `what` was asked, never its URL.
 */
export async function instantQuery(prometheus: HttpTarget, query: string, what: string): Promise<Sample[]> {
  try {
    const { result } = await prometheusApi<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      prometheus.url,
      'api/v1/query',
      { query },
    );
    return result
      .map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
      .filter((sample) => Number.isFinite(sample.value));
  } catch (err) {
    if (err instanceof PrometheusUnreachable)
      throw new Error(`Prometheus ${prometheus.name} unreachable: ${err.message}`);
    throw new Error(`Prometheus ${prometheus.name} did not answer ${what}: ${(err as Error).message}`);
  }
}

/** A label value as a PromQL string literal (double-quoted, backslash and quote escaped). */
export function promString(value: string): string {
  return JSON.stringify(value);
}

/** `value` matched literally inside a PromQL regex (RE2, fully anchored by Prometheus). */
export function promRegexLiteral(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
