import type { HttpTarget } from '../../domain/http-target.js';
import { fetchFailure } from '../http.js';

const TIMEOUT_MS = 10_000;

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/**
 * An instant PromQL query (`/api/v1/query`): one sample per series of the vector it answers,
 * non-finite values left out. `what` names the query in errors ("the disk query"), which never
 * quote the URL.
 */
export async function instantQuery(prometheus: HttpTarget, query: string, what: string): Promise<Sample[]> {
  const url = new URL('api/v1/query', prometheus.url.endsWith('/') ? prometheus.url : `${prometheus.url}/`);
  url.searchParams.set('query', query);
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((err: unknown) => {
    throw new Error(`Prometheus ${prometheus.name} unreachable: ${fetchFailure(err, TIMEOUT_MS)}`);
  });
  if (res.status !== 200) throw new Error(`Prometheus ${prometheus.name} answered HTTP ${res.status} to ${what}`);
  const body = (await res.json()) as {
    status?: string;
    data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== 'success') throw new Error(`Prometheus ${prometheus.name} did not answer ${what}`);
  return (body.data?.result ?? [])
    .map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
    .filter((s) => Number.isFinite(s.value));
}
