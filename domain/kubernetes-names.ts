import { z } from 'zod';

// Kubernetes' own naming rules (DNS-1123), checked where names enter from input, so a bad name is
// refused before anything is planned or approved rather than by the API server mid-run.

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';

/** A DNS-1123 subdomain: nodes, deployments and most object names (at most 253 characters). */
export const k8sObjectName = z
  .string()
  .max(253)
  .regex(
    new RegExp(`^${LABEL}(\\.${LABEL})*$`),
    'expected a Kubernetes object name (lowercase letters, digits, "-" and ".", starting and ending alphanumeric)',
  )
  .refine(
    (s) => s.split('.').every((l) => l.length <= 63),
    'each "."-separated part of a Kubernetes name is at most 63 characters',
  );

/** A DNS-1123 label: namespaces and container names (at most 63 characters). */
export const k8sLabelName = z
  .string()
  .max(63)
  .regex(
    new RegExp(`^${LABEL}$`),
    'expected a Kubernetes name (lowercase letters, digits and "-", starting and ending alphanumeric, at most 63)',
  );

/** A container image reference, e.g. registry:5000/team/app:1.2.3 or app@sha256:…; no spaces or control characters. */
export const imageReference = z
  .string()
  .max(512)
  .regex(
    /^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64})?$/i,
    'expected a container image reference like trixtech/backend:2.4.1',
  );

/** True when every element is distinct. */
export const distinct = <T>(items: readonly T[], key: (t: T) => unknown = (t) => t) =>
  new Set(items.map(key)).size === items.length;
