// Property-based inputs for every workflow type's input schema (issue 21): whatever is sent, the
// schema accepts it within bounds or refuses it naming the field, never echoing a large value.
// Pure and fast; test/fuzz-workflows.test.ts sends a sample of the same inputs to real runs.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { describeInputIssues } from '../domain/input-errors.js';
import { cleanText, escapeSlack, withoutUrls } from '../domain/text.js';
import { apply, INPUTS, mutation, type InputCase } from './fuzz/inputs.js';

const SEED = 2126;
/** A cross-field rule names the field it is written on: changing one side can refuse the other. */
const RELATED: Record<string, string[]> = { approvalLeadTime: ['escalateBefore'], windowDuration: ['windowStart'] };

function problems(c: InputCase, input: unknown): string[] | undefined {
  const r = c.schema.safeParse(input);
  return r.success ? undefined : describeInputIssues(r.error.issues);
}

/** Accepted values are sane: finite numbers in range, no huge strings. */
function expectSane(v: unknown, where = '(input)'): void {
  if (typeof v === 'number') {
    expect(Number.isFinite(v), where).toBe(true);
    expect(v, where).toBeGreaterThanOrEqual(-1);
    expect(v, where).toBeLessThanOrEqual(1e12);
  } else if (typeof v === 'string') {
    expect(v.length, where).toBeLessThanOrEqual(6000);
  } else if (Array.isArray(v)) {
    expect(v.length, where).toBeLessThanOrEqual(1000);
    v.forEach((x, i) => expectSane(x, `${where}.${i}`));
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) expectSane(x, `${where}.${k}`);
  }
}

describe('workflow input schemas under property-based inputs', () => {
  for (const [type, c] of Object.entries(INPUTS)) {
    it(`${type}: the valid example parses`, () => {
      expect(problems(c, c.valid())).toBeUndefined();
    });

    test.prop([mutation(c.valid())], { seed: SEED, numRuns: 300 })(
      `${type}: a mutated input is accepted within bounds or refused naming the field`,
      (m) => {
        const input = apply(c.valid(), m);
        const found = problems(c, input);
        if (!found) {
          expectSane(c.schema.parse(input));
          return;
        }
        const message = found.join('; ');
        expect(message.length).toBeLessThan(4000);
        expect(found.length).toBeLessThanOrEqual(11);
        for (const line of found) expect(line).toMatch(/^[^:]+: ./);
        if (m.kind === 'unknown-key') expect(message).toMatch(/Unrecognized key/);
        else {
          const field = String(m.path[0]);
          expect(
            [field, ...(RELATED[field] ?? [])].some((f) => message.includes(f)),
            message,
          ).toBe(true);
        }
      },
    );

    test.prop([fc.jsonValue({ maxDepth: 3 })], { seed: SEED, numRuns: 100 })(
      `${type}: arbitrary JSON never throws and never echoes much`,
      (value) => {
        const found = problems(c, value ?? {});
        if (found) expect(found.join('; ').length).toBeLessThan(4000);
        else expectSane(c.schema.parse(value ?? {}));
      },
    );
  }

  // The cases issue 21 reported, one by one.
  const refused: [string, Record<string, unknown>, string][] = [
    ['emergencyMaintenance', { postMortemDelaySeconds: 1e300 }, 'postMortemDelaySeconds'],
    ['emergencyMaintenance', { postMortemDelaySeconds: -5 }, 'postMortemDelaySeconds'],
    [
      'emergencyMaintenance',
      {
        actions: [
          { kind: 'vacuum-table', table: 'bookings' },
          { kind: 'vacuum-table', table: 'bookings' },
        ],
      },
      'actions',
    ],
    ['emergencyMaintenance', { actions: [{ kind: 'drain-node', node: 'Worker_1' }] }, 'actions.0.node'],
    [
      'weeklyDatabaseMaintenance',
      { window: { name: 'w', every: 'week', dayOfWeek: 0, start: '02:00', durationMinutes: 9007199254740991 } },
      'window.durationMinutes',
    ],
    [
      'weeklyDatabaseMaintenance',
      { window: { name: 'w', every: 'day', start: '02:00', durationMinutes: 1e9 } },
      'window.durationMinutes',
    ],
    [
      'monthlyApplicationMaintenance',
      { window: { name: 'w', every: 'day', start: '02:00', durationMinutes: 0 } },
      'window.durationMinutes',
    ],
    ['nodeUpdate', { pollInterval: 0 }, 'pollInterval'],
    [
      'nodeUpdate',
      { drain: { ...(INPUTS.nodeUpdate!.valid().drain as object), pollInterval: 'Infinity' } },
      'drain.pollInterval',
    ],
    ['nodeUpdate', { node: 'a'.repeat(254) }, 'node'],
    ['applicationUpdate', { rolloutTimeout: '-10 minutes' }, 'rolloutTimeout'],
    ['applicationUpdate', { rolloutTimeout: '1e300' }, 'rolloutTimeout'],
    ['applicationUpdate', { image: 'evil image; rm -rf /' }, 'image'],
    ['applicationUpdate', { container: 'App' }, 'container'],
    ['annualUpgrade', { nodes: ['n1', 'n1'] }, 'nodes'],
    ['annualUpgrade', { windowDuration: '-1 hour' }, 'windowDuration'],
    ['annualUpgrade', { escalateBefore: '8 days' }, 'escalateBefore'],
    ['annualUpgrade', { windowStart: '2001-12-25T00:00:00Z' }, 'windowStart'],
    ['rollingNodeUpdate', { nodes: ['n1', 'n2', 'n1'] }, 'nodes'],
    ['dailyHealthCheck', { checks: ['disk', 'disk'] }, 'checks'],
    ['dailyHealthCheck', { thresholds: { responseTimeBudgetMs: 1e300 } }, 'thresholds.responseTimeBudgetMs'],
  ];
  it.each(refused)('%s refuses %j naming %s', (type, change, field) => {
    const c = INPUTS[type]!;
    const found = problems(c, { ...c.valid(), ...change });
    expect(found?.join('; ')).toContain(`${field}:`);
  });

  it('an unknown key of 1 MB is named, clipped, not echoed', () => {
    const found = problems(INPUTS.eveningStatus!, { ['k'.repeat(1_000_000)]: 1 });
    expect(found?.join('; ').length).toBeLessThan(400);
    expect(found?.[0]).toMatch(/^\(input\): Unrecognized key: "k+…\(\d+ chars\)$/);
  });

  test.prop([fc.string({ unit: 'binary', maxLength: 200 })], { seed: SEED, numRuns: 500 })(
    'text from input: Slack-escaped it has no markup; cleaned it is valid for PostgreSQL',
    (text) => {
      expect(escapeSlack(text)).not.toMatch(/[<>]/);
      const clean = cleanText(text);
      expect(clean).not.toContain('\u0000');
      expect(Buffer.from(clean, 'utf8').toString('utf8')).toBe(clean);
    },
  );

  it('error messages lose the URLs fetch put in them', () => {
    expect(
      withoutUrls(
        'Request cannot be constructed from a URL that includes credentials: http://u:hunter2@h.example/x?token=t',
      ),
    ).toBe('Request cannot be constructed from a URL that includes credentials: <url>');
  });
});
