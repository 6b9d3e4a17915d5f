import { z } from 'zod';
import { SQL_IDENTIFIER } from './identifiers.js';

// What the database maintenance activities return, and the rule for old temporary tables: the
// activities produce these, the workflows grade them (workflows/lib/database-checks.ts).

const sqlIdentifier = z.string().regex(SQL_IDENTIFIER, 'expected a plain SQL identifier (letters, digits, "_")');

/**
 * What counts as an old temporary table. Only tables matching this rule are ever dropped; without
 * it, nothing is. Age is how long this product has seen the table (PostgreSQL keeps no creation time).
 */
export const TempTableRuleSchema = z
  .object({
    schema: sqlIdentifier.optional(),
    namePrefix: sqlIdentifier.optional(),
    minAgeHours: z.number().positive(),
  })
  .strict()
  .refine((r) => r.schema !== undefined || r.namePrefix !== undefined, 'name a schema, a namePrefix or both');
export type TempTableRule = z.infer<typeof TempTableRuleSchema>;

/** Distinct bookings older than the cutoff across both tables, and a checksum of their ids (any id type). */
export interface Census {
  rows: number;
  idChecksum: string;
}

export interface ArchiveStreamResult {
  /** Its slice: ids above `after` (null: from the lowest old id) up to `upTo`. */
  after: string | null;
  upTo: string;
  /** Where this attempt started in the slice: null on a first attempt, else the last batch a previous attempt committed. */
  resumedAfterId: string | null;
  rowsMoved: number;
  batches: number;
}

export interface ArchiveResult {
  cutoff: string;
  /** incomplete: a batch could not get its lock in time; what was moved stays moved, a rerun continues. */
  status: 'done' | 'incomplete' | 'skipped';
  reason?: string;
  rowsMoved: number;
  /** Rows found in both tables (left by the seed script's crash): removed from bookings, not inserted again. */
  alreadyArchived: number;
  batches: number;
  /** The keyset streams, each over a slice of the old ids on a connection of its own. */
  streams: ArchiveStreamResult[];
  /**
   * Rows a crashed attempt committed after its last heartbeat reached the server: a retry finds them
   * in the archive and resumes after them instead of scanning them again.
   */
  resumedPastHeartbeatRows: number;
  /**
   * Over the streams' id slices: the old bookings the archive held before the first batch plus every
   * row a batch inserted (and any old row still in bookings only); `after` is counted afresh.
   */
  before: Census;
  after: { census: Census; remainingInBookings: number; inBothTables: number };
  /**
   * The archive holds, in the streams' slices, exactly what it held before plus every row the batches
   * inserted (count and id checksum), and no row is in both tables; null when it could not be checked
   * (skipped, or bookings still locked when the batches stopped).
   */
  conserved: boolean | null;
  batchMs: { max: number; p99: number; median: number };
  /** Smallest and largest batch used (they differ when sizes adapt to batchTargetMs). */
  batchRows: { min: number; max: number };
  /** Wall time of the census before, the batches, and the verification after. */
  phaseMs: { census: number; move: number; verify: number };
  /**
   * The batches committed without waiting for the WAL flush, progress reported once flushed; false
   * where the role may not write the logical message that flushes (every commit then waits).
   */
  asyncCommit: boolean;
}

export interface CleanupResult {
  table: string;
  status: 'done' | 'skipped';
  deleted: number;
  reason?: string;
}

export interface TempTableCleanup {
  rule: TempTableRule | null;
  dropped: string[];
  /** Matching tables not yet seen for minAgeHours. */
  tooYoung: { table: string; seenForHours: number }[];
  skipped: { table: string; reason: string }[];
}

export interface TableVacuum {
  table: string;
  mode: 'analyze' | 'full';
  status: 'done' | 'skipped';
  reason?: string;
  deadTuplesBefore: number | null;
  deadTuplesAfter: number | null;
  durationMs: number;
}

export interface IndexAction {
  index: string;
  table: string;
  why: 'invalid' | 'bloated' | 'leftover of an interrupted REINDEX CONCURRENTLY';
  action: 'reindexed' | 'dropped' | 'skipped' | 'failed';
  estimatedBloat?: number;
  bytesBefore: number;
  bytesAfter?: number;
  reason?: string;
}

/** pg_stat_statements' slowest queries, or why they could not be read. */
export type SlowQueries =
  | { status: 'available'; queries: { query: string; calls: number; meanMs: number; totalMs: number }[] }
  | { status: 'unavailable'; reason: string };
