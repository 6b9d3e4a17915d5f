import { z } from 'zod';

// Maintenance windows are data (seed: "Maintenance Window Policy"), evaluated in UTC.
// Pure functions so workflows can reason about windows deterministically from workflow time.

// Seconds are optional: operators write HH:MM; tests open a window a few seconds from now.
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'expected HH:MM or HH:MM:SS (UTC)');
const DAY_MINUTES = 1440;
/** A window is at most as long as its period (a longer one would overlap itself and never close). */
const minutes = (max: number) =>
  z
    .number()
    .int()
    .min(1)
    .max(max, `at most ${max} minutes (${max / DAY_MINUTES} day(s)) for this period`);
const common = {
  name: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9][a-z0-9._-]*$/i, 'use letters, digits, ".", "_" or "-"'),
  start: HHMM,
  /** Business hours (Mon-Fri 08:00-18:00 UTC) are protected: a window may overlap them only by saying so. */
  duringBusinessHours: z.boolean().optional(),
};

/** A period in which no disruptive maintenance runs, whatever the windows say (a sale, a launch). */
export const BlackoutSchema = z
  .object({
    name: z.string().min(1).max(63),
    start: z.iso.datetime(),
    end: z.iso.datetime(),
    reason: z.string().max(300).optional(),
  })
  .strict()
  .refine((b) => Date.parse(b.start) < Date.parse(b.end), { message: 'end must be after start', path: ['end'] });
export type Blackout = z.infer<typeof BlackoutSchema>;

export const WindowSpecSchema = z.discriminatedUnion('every', [
  z.object({ ...common, durationMinutes: minutes(DAY_MINUTES), every: z.literal('day') }).strict(),
  z
    .object({
      ...common,
      durationMinutes: minutes(7 * DAY_MINUTES),
      every: z.literal('week'),
      dayOfWeek: z.number().int().min(0).max(6),
    })
    .strict(),
  z
    .object({
      ...common,
      durationMinutes: minutes(7 * DAY_MINUTES),
      every: z.literal('month'),
      /** 1 = first, 3 = third, -1 = last such weekday of the month. */
      nth: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(-1)]),
      dayOfWeek: z.number().int().min(0).max(6),
    })
    .strict(),
  z
    .object({
      ...common,
      durationMinutes: minutes(14 * DAY_MINUTES),
      every: z.literal('year'),
      month: z.number().int().min(1).max(12),
      day: z.number().int().min(1).max(31),
    })
    .strict(),
]);
export type WindowSpec = z.infer<typeof WindowSpecSchema>;

export interface WindowOccurrence {
  name: string;
  start: string;
  end: string;
}

/** The seed's standard windows (Routine Maintenance Guide, "Maintenance Window Policy"). */
export const SEED_WINDOWS: WindowSpec[] = [
  { name: 'daily', every: 'day', start: '06:00', durationMinutes: 60 },
  { name: 'weekly', every: 'week', dayOfWeek: 0, start: '02:00', durationMinutes: 240 },
  // The seed itself places the monthly windows on Monday mornings, inside business hours.
  {
    name: 'monthly',
    every: 'month',
    nth: 1,
    dayOfWeek: 1,
    start: '08:00',
    durationMinutes: 240,
    duringBusinessHours: true,
  },
  // The seed's calendar puts application maintenance (online database work) on the third Monday.
  {
    name: 'monthly-application',
    every: 'month',
    nth: 3,
    dayOfWeek: 1,
    start: '09:00',
    durationMinutes: 180,
    duringBusinessHours: true,
  },
  { name: 'annual', every: 'year', month: 12, day: 25, start: '00:00', durationMinutes: 48 * 60 },
];

const DAY_MS = 86_400_000;

function matchesDay(spec: WindowSpec, day: Date): boolean {
  switch (spec.every) {
    case 'day':
      return true;
    case 'week':
      return day.getUTCDay() === spec.dayOfWeek;
    case 'month': {
      if (day.getUTCDay() !== spec.dayOfWeek) return false;
      const date = day.getUTCDate();
      if (spec.nth === -1) {
        const sameWeekdayNextWeek = new Date(day.getTime() + 7 * DAY_MS);
        return sameWeekdayNextWeek.getUTCMonth() !== day.getUTCMonth();
      }
      return Math.ceil(date / 7) === spec.nth;
    }
    case 'year':
      return day.getUTCMonth() + 1 === spec.month && day.getUTCDate() === spec.day;
  }
}

/** Every occurrence of the given windows that overlaps [from, to). */
export function windowOccurrences(specs: readonly WindowSpec[], from: Date, to: Date): WindowOccurrence[] {
  const out: WindowOccurrence[] = [];
  for (const spec of specs) {
    const [hh, mm, ss = 0] = spec.start.split(':').map(Number) as [number, number, number?];
    const lookBackDays = Math.ceil(spec.durationMinutes / 1440) + 1;
    const firstDay = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()) - lookBackDays * DAY_MS;
    for (let dayMs = firstDay; dayMs < to.getTime(); dayMs += DAY_MS) {
      const day = new Date(dayMs);
      if (!matchesDay(spec, day)) continue;
      const start = dayMs + ((hh * 60 + mm) * 60 + ss) * 1000;
      const end = start + spec.durationMinutes * 60_000;
      if (end > from.getTime() && start < to.getTime()) {
        out.push({ name: spec.name, start: new Date(start).toISOString(), end: new Date(end).toISOString() });
      }
    }
  }
  return out.sort((a, b) => a.start.localeCompare(b.start));
}

/** The occurrence of `spec` containing `at`, if any. */
export function activeWindow(spec: WindowSpec, at: Date): WindowOccurrence | undefined {
  return windowOccurrences([spec], at, new Date(at.getTime() + 1))[0];
}

/** Business hours (seed: Mon-Fri 08:00-18:00 UTC) are protected from disruptive work. */
export function isBusinessHours(at: Date): boolean {
  const dow = at.getUTCDay();
  const hour = at.getUTCHours();
  return dow >= 1 && dow <= 5 && hour >= 8 && hour < 18;
}

function overlapsBusinessHours(start: number, end: number): boolean {
  for (let t = start; t < end; t += 15 * 60_000) if (isBusinessHours(new Date(t))) return true;
  return isBusinessHours(new Date(end - 1));
}

/** Why an occurrence of `spec` may not be used: a blackout it overlaps, or unannounced business hours. */
export function closedBecause(
  o: WindowOccurrence,
  spec: WindowSpec,
  blackouts: readonly Blackout[] = [],
): string | undefined {
  const start = Date.parse(o.start);
  const end = Date.parse(o.end);
  const blackout = blackouts.find((b) => Date.parse(b.start) < end && Date.parse(b.end) > start);
  if (blackout) return `blackout ${blackout.name}${blackout.reason ? ` (${blackout.reason})` : ''}`;
  if (!spec.duringBusinessHours && overlapsBusinessHours(start, end)) return 'business hours (Mon-Fri 08:00-18:00 UTC)';
  return undefined;
}
