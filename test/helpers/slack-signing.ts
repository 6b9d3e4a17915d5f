// Slack's request signing is shared with the Slack emulator of `npm run up` (dev/slack-signing.ts).
export { interactionBody, slackHeaders } from '../../dev/slack-signing.js';

export function commandBody(user: string, text: string, responseUrl = 'https://hooks.slack.com/commands/x'): string {
  return new URLSearchParams({ command: '/maint', text, user_id: user, response_url: responseUrl }).toString();
}
