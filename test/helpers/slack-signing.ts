// Slack's request signing is shared with the Slack emulator of `npm run up` (dev/slack-signing.ts).
export { slackHeaders } from '../../dev/slack-signing.js';

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

export function commandBody(user: string, text: string, responseUrl = 'https://hooks.slack.com/commands/x'): string {
  return new URLSearchParams({ command: '/maint', text, user_id: user, response_url: responseUrl }).toString();
}
