import type { Notifier, SlackMessage } from '../src/clients.js';

export function createSlackActivities({ notifier }: { notifier: Notifier }) {
  return {
    /** Posts a run report; returns where it went ("slack" or "log"). */
    async postSlackMessage(message: SlackMessage): Promise<string> {
      await notifier.post(message, 'report');
      return notifier.destination;
    },
    async postSlackAlert(message: SlackMessage): Promise<string> {
      await notifier.post(message, 'alert');
      return notifier.destination;
    },
  };
}
