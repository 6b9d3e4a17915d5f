import type { Notifier, SlackMessage } from '../src/clients.js';
import { escapeSlack } from '../domain/text.js';

/**
 * Plain-text posts interpolate input (reasons, names) and carry no markup of ours, so they are
 * escaped here; messages with blocks are formatted, and escaped, by domain/format.ts.
 */
const escaped = (m: SlackMessage): SlackMessage => (m.blocks ? m : { ...m, text: escapeSlack(m.text) });

export function createSlackActivities({ notifier }: { notifier: Notifier }) {
  return {
    /** Posts a run report; returns where it went ("slack" or "log"). */
    async postSlackMessage(message: SlackMessage): Promise<string> {
      await notifier.post(escaped(message), 'report');
      return notifier.destination;
    },
    async postSlackAlert(message: SlackMessage): Promise<string> {
      await notifier.post(escaped(message), 'alert');
      return notifier.destination;
    },
  };
}
