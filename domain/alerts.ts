// What the alert activities return and the alert-aware workflows read: sandbox-safe types only.
import type { CheckResult } from './checks.js';

/** One alert Alertmanager holds as active (firing, neither silenced nor inhibited). */
export interface FiringAlert {
  name: string;
  /** The alert's labels other than alertname, as `k=v` (severity, instance, ...). */
  labels: string;
  startsAt: string;
}

export interface AlertState {
  /** Alerts that hold disruptive maintenance back, by the configured block/ignore lists. */
  blocking: FiringAlert[];
  /** `alerts.configured` (Alertmanager answers and routes somewhere) and `alerts.firing`. */
  checks: CheckResult[];
  /** A window silence is configured (`alerts.silenceDuringWindows`): the run creates one before its work. */
  silenceConfigured?: boolean;
}

/** The silence a disruptive run holds while it works (config `alerts.silenceDuringWindows`). */
export interface WindowSilence {
  id: string;
  endsAt: string;
  /** The matchers in Alertmanager's notation, e.g. `alertname=~"KubeNode.*"`. */
  matchers: string;
  /** false: a retry found the silence this run had already created. */
  created: boolean;
}
