import { pino } from 'pino';

// Secrets travel in these keys; pino replaces them before anything is written.
const REDACT = [
  '*.password',
  '*.secret',
  '*.token',
  '*.apiKey',
  '*.webhookUrl',
  '*.alertWebhookUrl',
  '*.tasksWebhookUrl',
  '*.signingSecret',
  '*.databaseUrl',
  '*.reportDatabaseUrl',
  '*.connectionString',
  'headers.authorization',
  '*.headers.authorization',
];

export function createLogger(level = process.env.LOG_LEVEL ?? 'info') {
  return pino({ level, base: { service: 'trixtech-maintenance' }, redact: { paths: REDACT, censor: '[redacted]' } });
}

export type Logger = ReturnType<typeof createLogger>;
