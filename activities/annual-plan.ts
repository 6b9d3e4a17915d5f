import type pg from 'pg';
import type { StoredAnnualPlan } from '../domain/annual-plan.js';
import { currentAnnualPlan, readAnnualPlanAtOpening as recordReadAtOpening } from '../src/annual-plans.js';

/** The annual upgrade plan in the report database (`annual_upgrade_plans`), as the run reads it. */
export function createAnnualPlanActivities({ reports }: { reports: pg.Pool }) {
  return {
    /** The window's plan as it stands now (revision 0: none stored): for the notice and the approval request. */
    async readAnnualPlan({ windowStart }: { windowStart: string }): Promise<StoredAnnualPlan> {
      return currentAnnualPlan(reports, windowStart);
    },

    /** The plan when the window opens: recorded as read by this run, and closed to amendments from then on. */
    async readAnnualPlanAtOpening(r: {
      windowStart: string;
      workflowId: string;
      runId: string;
    }): Promise<StoredAnnualPlan> {
      return recordReadAtOpening(reports, r);
    },
  };
}
