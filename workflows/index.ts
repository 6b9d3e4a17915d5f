// The worker's workflow bundle entry point: every workflow type on task queue `maintenance`.
export { dailyHealthCheck } from './daily-health-check.js';
export { eveningStatus } from './evening-status.js';
export { weeklyDatabaseMaintenance } from './weekly-database-maintenance.js';
