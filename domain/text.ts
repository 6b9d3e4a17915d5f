// Text from inputs goes to Slack and PostgreSQL; both have rules of their own. Pure, shared by
// workflows (message formatting) and activities (the last stop before each system).

/**
 * Slack's own escaping (&, <, >): text from input cannot mention (`<!channel>`, `<@U…>`) or link
 * (`<http://evil|bank>`); it shows as typed. Only for text we did not format ourselves.
 */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An error message with every URL in it replaced: fetch errors repeat the URL, credentials included. */
export function withoutUrls(message: string): string {
  return message.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi, '<url>');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** PostgreSQL text and jsonb refuse NUL and lone surrogates: each becomes U+FFFD, the rest is kept. */
export function cleanText(s: string): string {
  return s.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

/** `cleanText` over every string (keys included) of a JSON-like value. */
export function cleanDeep<T>(value: T): T {
  if (typeof value === 'string') return cleanText(value) as T;
  if (Array.isArray(value)) return value.map(cleanDeep) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), cleanDeep(v)])) as T;
  }
  return value;
}
