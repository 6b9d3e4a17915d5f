import { createHmac } from 'node:crypto';

/**
 * Signs a request body the way Slack does (v0 HMAC-SHA256 over "v0:<timestamp>:<body>"), so the
 * Slack emulator of `npm run up` and the tests send the bridge what Slack would send.
 */
export function slackHeaders(
  body: string,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': signature,
  };
}

/** The form body of an approval button click (`block_actions`), as Slack posts it to the bridge. */
export function interactionBody(
  user: string,
  action: 'approve' | 'reject',
  workflowId: string,
  responseUrl: string,
): string {
  const payload = {
    type: 'block_actions',
    user: { id: user },
    response_url: responseUrl,
    actions: [{ action_id: action, value: workflowId }],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}
