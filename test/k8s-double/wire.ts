// Pure pieces of the Kubernetes wire protocol the double needs: selectors, patch formats, Status bodies.

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A Kubernetes `Status` error, thrown inside the double and sent as the response body. */
export class StatusError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details: Obj = {}) {
    super(message);
  }

  get body(): Obj {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, details: this.details, code: this.code };
  }
}

export const notFound = (resource: string, name: string, group = '') =>
  new StatusError(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, { name, group, kind: resource });

/** Splits on commas that are not inside parentheses (`a in (x,y),b`). */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) terms.push(current.trim());
  return terms;
}

/** Label selector syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. */
export function matchesLabelSelector(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  return splitTerms(selector).every((term) => {
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^(\S+)\s+(in|notin)\s+\((.*)\)$/))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      const has = m[1]! in l && values.includes(l[m[1]!]!);
      return m[2] === 'in' ? has : !has;
    }
    if ((m = term.match(/^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/))) return m[2] === '!=' ? l[m[1]!] !== m[3] : l[m[1]!] === m[3];
    if (term.startsWith('!')) return !(term.slice(1) in l);
    return term in l;
  });
}

/** A structured `spec.selector` (matchLabels / matchExpressions) as used by PDBs and workloads. */
export function matchesSelector(labels: Record<string, string> | undefined, selector: Obj | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  const exact = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  const expressions = ((selector.matchExpressions ?? []) as Obj[]).every((e) => {
    const values = (e.values ?? []) as string[];
    switch (e.operator) {
      case 'In': return values.includes(l[e.key]!);
      case 'NotIn': return !values.includes(l[e.key]!);
      case 'Exists': return e.key in l;
      case 'DoesNotExist': return !(e.key in l);
      default: return false;
    }
  });
  return exact && expressions;
}

function fieldValue(obj: Obj, path: string): string {
  const v = path.split('.').reduce<unknown>((o, key) => (o as Obj | undefined)?.[key], obj);
  return v === undefined || v === null ? '' : String(v);
}

/** Field selectors: `path=value`, `path==value`, `path!=value`, comma-separated (all must hold). */
export function matchesFieldSelector(obj: Obj, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const m = term.match(/^([^!=]+)(==|=|!=)(.*)$/);
    if (!m) throw new StatusError(400, 'BadRequest', `invalid field selector term "${term}"`);
    return m[2] === '!=' ? fieldValue(obj, m[1]!) !== m[3] : fieldValue(obj, m[1]!) === m[3];
  });
}

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown, strategic = false): unknown {
  if (!isObject(patch)) return patch;
  const out: Obj = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    // Strategic-merge directives ($setElementOrder/..., $patch, $retainKeys) only order or scope lists.
    if (strategic && key.startsWith('$')) continue;
    if (value === null) delete out[key];
    else if (strategic && Array.isArray(value) && Array.isArray(out[key]) && value.every((v) => isObject(v) && 'name' in v)) out[key] = mergeListByName(out[key] as Obj[], value as Obj[]);
    else out[key] = mergePatch(out[key], value, strategic);
  }
  return out;
}

/** Strategic merge of lists whose patch strategy is "merge" on key `name` (containers, volumes, env, ports). */
function mergeListByName(target: Obj[], patch: Obj[]): Obj[] {
  const out = target.map((item) => ({ ...item }));
  for (const entry of patch) {
    if (entry.$patch === 'delete') {
      const at = out.findIndex((t) => t.name === entry.name);
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    const at = out.findIndex((t) => t.name === entry.name);
    if (at >= 0) out[at] = mergePatch(out[at], entry, true) as Obj;
    else out.push(mergePatch({}, entry, true) as Obj);
  }
  return out;
}

/** RFC 6902 JSON patch (add, replace, remove, test) on a copy of `target`. */
export function jsonPatch(target: Obj, ops: Obj[]): Obj {
  const doc = structuredClone(target);
  for (const op of ops) {
    const path = String(op.path).split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = path.pop()!;
    const parent = path.reduce<Obj>((o, key) => o?.[key], doc);
    if (!parent) throw new StatusError(422, 'Invalid', `path ${op.path} does not exist`);
    if (op.op === 'test') {
      if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new StatusError(422, 'Invalid', `test operation on ${op.path} failed`);
    } else if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (op.op === 'add' && Array.isArray(parent)) {
      parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
    } else if (op.op === 'add' || op.op === 'replace') parent[last] = op.value;
    else throw new StatusError(422, 'Invalid', `unsupported JSON patch operation ${op.op}`);
  }
  return doc;
}
