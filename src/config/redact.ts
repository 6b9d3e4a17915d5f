import { SECRET_PARAMS } from '../../domain/http-target.js';

/** A URL with its password and token-like query parameters replaced, safe for logs and reports. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (SECRET_PARAMS.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
