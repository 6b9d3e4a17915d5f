// The worker's workflow bundle entry point: every workflow type on task queue `maintenance`.
export { annualUpgrade } from './annual-upgrade.js';
export { applicationCacheCleanup } from './application-cache-cleanup.js';
export { applicationUpdate } from './application-update.js';
export { dailyBackup } from './daily-backup.js';
export { dailyHealthCheck } from './daily-health-check.js';
export { emergencyMaintenance } from './emergency-maintenance.js';
export { eveningStatus } from './evening-status.js';
export { monthlyApplicationMaintenance } from './monthly-application-maintenance.js';
export { monthlyAudit } from './monthly-audit.js';
export { nodeUpdate } from './node-update.js';
export { quarterlyReview } from './quarterly-review.js';
export { rollingNodeUpdate } from './rolling-node-update.js';
export { storageCleanup } from './storage-cleanup.js';
export { weeklyDatabaseMaintenance } from './weekly-database-maintenance.js';
export { weeklyPerformanceReview } from './weekly-performance-review.js';
export { weeklySecurityReview } from './weekly-security-review.js';
export { weeklySystemReview } from './weekly-system-review.js';
