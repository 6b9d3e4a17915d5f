import type pg from 'pg';
import type { CheckResult } from '../../domain/checks.js';

export function createAccessActivities({ db, databaseLabel }: { db: pg.Pool; databaseLabel: string }) {
  return {
    /**
     * Seed "Verify access control configurations" for the database: roles that can log in with
     * superuser, role-creation or RLS-bypass powers, beyond the ones expected to have them.
     */
    async reviewDatabaseRoles(expectedSuperusers: string[]): Promise<CheckResult[]> {
      const { rows } = await db.query<{ name: string; powers: string[] }>(
        `SELECT rolname AS name,
                array_remove(ARRAY[CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
                                   CASE WHEN rolbypassrls THEN 'BYPASSRLS' END], NULL) AS powers
           FROM pg_roles
          WHERE rolcanlogin AND (rolsuper OR rolcreaterole OR rolbypassrls) AND rolname !~ '^pg_'
          ORDER BY rolname`,
      );
      const unexpected = rows.filter((r) => !expectedSuperusers.includes(r.name));
      if (unexpected.length === 0) {
        return [
          {
            check: 'db.privileged-roles',
            target: databaseLabel,
            status: 'ok',
            value: rows.length,
            unit: 'roles',
            threshold: `only ${expectedSuperusers.join(', ')}`,
            detail: `privileged login roles: ${rows.map((r) => r.name).join(', ') || 'none'}`,
          },
        ];
      }
      return unexpected.map((r) => ({
        check: 'db.privileged-roles',
        target: r.name,
        status: r.powers.includes('SUPERUSER') ? 'critical' : 'warn',
        threshold: `only ${expectedSuperusers.join(', ')}`,
        detail: `login role ${r.name} has ${r.powers.join(', ')} on ${databaseLabel}`,
      }));
    },
  };
}
