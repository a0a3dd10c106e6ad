/**
 * The impact of a policy change on real traffic: one capture replayed under two cluster states,
 * each from a fresh start (stateful, conntrack empty), and the connections whose verdict
 * changes. A connection's verdict is its first packet's (as in replay summaries), by the first
 * engine asked; every engine's verdicts are kept alongside.
 *
 * Each side names the policy responsible: an allow names the policy that allowed (the engine's
 * reason), a default deny also names the policies that isolate the pod in that direction.
 */
import type { Cluster, Direction } from '../cluster/model.js';
import { selectorMatches } from '../cluster/selector.js';
import { compile } from '../compile/index.js';
import type { EngineName } from '../engines/engine.js';
import { parseIp } from '../net/ip.js';
import { isPolicyPod, policyKey } from '../policy/resolve.js';
import type { PolicyDiff } from '../report/schema.js';
import type { CaptureReaderOptions, CaptureTotals } from '../capture/reader.js';
import { type PacketVerdict, replayCapture } from './replay.js';
import { FlowTable, type FlowSummary, flowName, widest } from './summary.js';

/** One cluster state: the manifest paths it came from, and the cluster. */
export interface ClusterState {
  readonly paths: readonly string[];
  readonly cluster: Cluster;
}

export type Verdict = 'allow' | 'deny';

export interface FlowChange {
  readonly flow: string;
  readonly packets: number;
  readonly bytes: number;
  /** the first engine's verdict on the connection's first packet */
  readonly before: Verdict;
  readonly after: Verdict;
  readonly beforeReason: string;
  readonly afterReason: string;
  /** packets the first engine let through, before and after */
  readonly allowedBefore: number;
  readonly allowedAfter: number;
  /** every engine's verdict on the first packet, before and after */
  readonly engines: Readonly<Record<string, { readonly before: Verdict; readonly after: Verdict }>>;
}

export interface CaptureDiff {
  readonly before: readonly string[];
  readonly after: readonly string[];
  readonly trace: string;
  readonly engines: readonly string[];
  /** connections in the capture */
  readonly flows: number;
  readonly packets: number;
  readonly judged: number;
  readonly skipped: number;
  /** connections whose verdict changes: newly denied first, then newly allowed; first-seen order in each */
  readonly changed: readonly FlowChange[];
  readonly newlyDenied: number;
  readonly newlyAllowed: number;
}

export interface DiffOptions {
  readonly engines: readonly EngineName[];
  readonly reader?: CaptureReaderOptions;
}

interface SideReplay {
  readonly flows: Map<string, FlowSummary>;
  /** first packet of each flow, for naming the pods a deny belongs to */
  readonly heads: Map<string, PacketVerdict>;
  readonly order: string[];
  readonly totals: CaptureTotals;
}

/** Replays `trace` under `state` from a fresh start. */
function replaySide(state: ClusterState, trace: string, opts: DiffOptions): SideReplay {
  // every connection, however many: a change to the 300,000th is a change (no --max-flows here)
  const table = new FlowTable(Number.POSITIVE_INFINITY);
  const heads = new Map<string, PacketVerdict>();
  const order: string[] = [];
  const r = replayCapture(compile(state.cluster), trace, opts.engines, {
    packet: (v, bytes) => {
      table.add(v, bytes);
      if (v.verdict === 'skip') return;
      // FlowTable keys a connection by its unordered ends; the name comes from its first packet
      const a = `${v.src}|${v.sport}`, b = `${v.dst}|${v.dport}`;
      const key = `${v.proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}`;
      if (!heads.has(key)) { heads.set(key, v); order.push(key); }
    },
  }, opts.reader ?? {});
  const flows = new Map<string, FlowSummary>();
  for (const f of table.summary().flows) flows.set(f.flow, f);
  const byKey = new Map<string, FlowSummary>();
  for (const k of order) {
    const h = heads.get(k)!;
    byKey.set(k, flows.get(flowName(h.proto!, h.src!, h.sport!, h.dst!, h.dport!))!);
  }
  return { flows: byKey, heads, order, totals: r.totals };
}

/**
 * Replays `trace` under both cluster states and lists the connections whose verdict changes.
 * Throws what replayCapture throws (PfsimError for an unreadable or malformed capture, an
 * engine that cannot load).
 */
export function diffCapture(before: ClusterState, after: ClusterState, trace: string, opts: DiffOptions): CaptureDiff {
  if (opts.engines.length === 0) throw new RangeError('diffCapture: no engine');
  const b = replaySide(before, trace, opts);
  const a = replaySide(after, trace, opts);
  const primary = opts.engines[0]!;
  const denied: FlowChange[] = [], allowed: FlowChange[] = [];
  for (const key of b.order) {
    const fb = b.flows.get(key)!, fa = a.flows.get(key);
    if (!fa) continue;
    const vb = fb.verdicts[primary]!, va = fa.verdicts[primary]!;
    if (vb === va) continue;
    const head = b.heads.get(key)!;
    const engines: Record<string, { before: Verdict; after: Verdict }> = {};
    for (const e of opts.engines) engines[e] = { before: fb.verdicts[e]!, after: fa.verdicts[e]! };
    const change: FlowChange = {
      flow: fb.flow, packets: fb.packets, bytes: fb.bytes, before: vb, after: va,
      beforeReason: responsible(fb.reason, vb, before.cluster, head),
      afterReason: responsible(fa.reason, va, after.cluster, head),
      allowedBefore: fb.allowed[primary] ?? 0, allowedAfter: fa.allowed[primary] ?? 0, engines,
    };
    (va === 'deny' ? denied : allowed).push(change);
  }
  return {
    before: before.paths, after: after.paths, trace, engines: opts.engines,
    flows: b.order.length, packets: b.totals.packets, judged: b.totals.ok, skipped: b.totals.skipped,
    changed: [...denied, ...allowed], newlyDenied: denied.length, newlyAllowed: allowed.length,
  };
}

/**
 * The reason with the policies responsible: a default deny names the policies that isolate the
 * pod on the denying side (they are what a user changes); an allow already names its policy.
 */
function responsible(reason: string, verdict: Verdict, cluster: Cluster, head: PacketVerdict): string {
  if (verdict !== 'deny') return reason;
  const dir: Direction | undefined = /\begress\b/.test(reason) ? 'egress' : /\bingress\b/.test(reason) ? 'ingress' : undefined;
  if (dir === undefined) return reason;
  const policies = isolatingPolicies(cluster, dir === 'egress' ? head.src! : head.dst!, dir);
  return policies.length === 0 ? reason : `${reason} (isolated by ${policies.join(', ')})`;
}

/** The policies that select the pod at `ip` and isolate it in `dir`, as "namespace/name". */
export function isolatingPolicies(cluster: Cluster, ip: string, dir: Direction): string[] {
  const addr = parseIp(ip);
  const pod = cluster.pods.find((p) => isPolicyPod(p) && p.ips.includes(addr!));
  if (!pod) return [];
  return cluster.policies
    .filter((pol) => pol.namespace === pod.namespace && pol.policyTypes.includes(dir) && selectorMatches(pol.podSelector, pod.labels))
    .map(policyKey)
    .sort();
}

/** The diff in the results.json shape (src/report/schema.ts), for the report; `label` names the change. */
export function toPolicyDiff(d: CaptureDiff, label?: string): PolicyDiff {
  return {
    ...(label !== undefined ? { label } : {}),
    before: d.before, after: d.after, trace: d.trace, engine: d.engines[0]!, flows: d.flows, packets: d.packets,
    changed: d.changed.map((c) => ({
      flow: c.flow, packets: c.packets, before: c.before, after: c.after, beforeReason: c.beforeReason, afterReason: c.afterReason,
    })),
  };
}

/** Computes the diff and returns it in the results.json shape. */
export function policyDiff(before: ClusterState, after: ClusterState, trace: string, opts: DiffOptions & { readonly label?: string }): PolicyDiff {
  return toPolicyDiff(diffCapture(before, after, trace, opts), opts.label);
}

/** The diff as text: newly denied, newly allowed, totals. */
export function renderDiff(d: CaptureDiff): string {
  const lines: string[] = [
    `Replaying ${d.trace} under both cluster states, each from a fresh start (engine ${d.engines[0]}${d.engines.length > 1 ? `; also ${d.engines.slice(1).join(', ')}` : ''}):`,
    `  before: ${d.before.join(', ')}`,
    `  after:  ${d.after.join(', ')}`,
  ];
  const w = widest(d.changed.map((c) => c.flow), 20);
  for (const [title, list] of [['newly denied', d.changed.filter((c) => c.after === 'deny')], ['newly allowed', d.changed.filter((c) => c.after === 'allow')]] as const) {
    lines.push('', `${title}: ${list.length} connection${list.length === 1 ? '' : 's'}`);
    if (list.length === 0) continue;
    lines.push(`  ${'flow'.padEnd(w)}  ${'packets'.padStart(7)}  ${'passed'.padStart(11)}  before -> after`);
    for (const c of list) {
      const others = Object.entries(c.engines).slice(1).filter(([, v]) => v.before !== c.before || v.after !== c.after);
      lines.push(`  ${c.flow.padEnd(w)}  ${String(c.packets).padStart(7)}  ${`${c.allowedBefore} -> ${c.allowedAfter}`.padStart(11)}  ${c.before}: ${c.beforeReason}`);
      lines.push(`  ${''.padEnd(w)}  ${''.padStart(7)}  ${''.padStart(11)}  ${c.after}: ${c.afterReason}`);
      for (const [e, v] of others) lines.push(`  ${''.padEnd(w)}  ${''.padStart(7)}  ${''.padStart(11)}  (${e}: ${v.before} -> ${v.after})`);
    }
  }
  lines.push('', `connections ${d.flows}, packets ${d.packets} (judged ${d.judged}, skipped ${d.skipped}); changed ${d.changed.length}: ${d.newlyDenied} newly denied, ${d.newlyAllowed} newly allowed`);
  return lines.join('\n') + '\n';
}
