/**
 * Figures derived from a results.json that the headline, the tables and the charts share:
 * trial lookup, the engine order, the agreement summed over every scale point, same-run baselines.
 * Pure functions; nothing here formats text.
 */
import type { Agreement, Results, ScalePoint, Trial } from './schema.js';

/** The order engines appear in everywhere: linear chains first, then the map lookups. */
export const ENGINE_ORDER: readonly string[] = ['iptables', 'nft', 'chain', 'maps', 'bpf', 'tc', 'aws', 'libpcap', 'pfsim-read'];

export function byEngineOrder(a: string, b: string): number {
  const ia = ENGINE_ORDER.indexOf(a), ib = ENGINE_ORDER.indexOf(b);
  return (ia < 0 ? ENGINE_ORDER.length : ia) - (ib < 0 ? ENGINE_ORDER.length : ib) || a.localeCompare(b);
}

/** Engines with at least one trial in `trials`, in report order. */
export function enginesOf(trials: readonly Trial[]): string[] {
  return [...new Set(trials.map((t) => t.engine))].sort(byEngineOrder);
}

export function trialAt(r: Results, engine: string, scale: number, workload = 'scale'): Trial | undefined {
  return r.trials.find((t) => t.engine === engine && t.scale === scale && t.workload === workload);
}

/**
 * Engines that depart from Kubernetes semantics on purpose (the AWS agent's own rules): their
 * departures for a known reason are shown apart, not as disagreements between the engines.
 */
export const DEPARTING: ReadonlySet<string> = new Set(['aws']);

/** Agreement over several scale points: per engine pair, packets both judged and packets they agreed on. */
export interface AgreementTotal {
  readonly engines: readonly string[];
  /** judged[i][j]: packets judged by both engines i and j (summed over the points where both ran) */
  readonly judged: readonly (readonly number[])[];
  readonly same: readonly (readonly number[])[];
  /** explained[i][j]: packets on which they differ because a departing engine departed for a known reason */
  readonly explained: readonly (readonly number[])[];
}

/** Sums the agreement of every scale point; pairs that never met have judged = 0. */
export function totalAgreement(points: readonly ScalePoint[]): AgreementTotal {
  const engines = [...new Set(points.flatMap((p) => p.agreement.engines))].sort(byEngineOrder);
  const zero = () => engines.map(() => engines.map(() => 0));
  const judged = zero(), same = zero(), explained = zero();
  for (const p of points) addAgreement(p.agreement, engines, judged, same, explained);
  return { engines, judged, same, explained };
}

function addAgreement(a: Agreement, engines: readonly string[], judged: number[][], same: number[][], explained: number[][]): void {
  const at = a.engines.map((e) => engines.indexOf(e));
  a.engines.forEach((ei, i) => a.engines.forEach((ej, j) => {
    const s = a.same[i]?.[j] ?? 0;
    judged[at[i]!]![at[j]!]! += a.packets;
    same[at[i]!]![at[j]!]! += s;
    // a run that did not record which differences were departures: a departing engine's all are
    explained[at[i]!]![at[j]!]! += a.explained
      ? a.explained[i]?.[j] ?? 0
      : DEPARTING.has(ei) || DEPARTING.has(ej) ? a.packets - s : 0;
  }));
}

/**
 * Engine pairs (each once) that gave different verdicts on some packet that no known departure
 * explains — disagreements — the worst first.
 */
export function disagreements(t: AgreementTotal): { a: string; b: string; differ: number; judged: number }[] {
  return pairs(t, (i, j) => t.judged[i]![j]! - t.same[i]![j]! - t.explained[i]![j]!);
}

/** Engine pairs (each once) whose differences a known departure explains, the most first. */
export function departures(t: AgreementTotal): { a: string; b: string; differ: number; judged: number }[] {
  return pairs(t, (i, j) => t.explained[i]![j]!);
}

function pairs(t: AgreementTotal, differ: (i: number, j: number) => number): { a: string; b: string; differ: number; judged: number }[] {
  const out: { a: string; b: string; differ: number; judged: number }[] = [];
  t.engines.forEach((a, i) => t.engines.forEach((b, j) => {
    if (j <= i) return;
    const d = differ(i, j);
    if (d > 0) out.push({ a, b, differ: d, judged: t.judged[i]![j]! });
  }));
  return out.sort((x, y) => y.differ - x.differ);
}

/**
 * Packets over which agreement was measured: the points where two or more engines ran. A packet
 * is counted once per point however many engines judged it.
 */
export function agreementPackets(points: readonly ScalePoint[]): number {
  return points.filter((p) => p.agreement.engines.length > 1).reduce((s, p) => s + p.agreement.packets, 0);
}

/** The same-run baseline every throughput ratio is taken against: the slowest kind of engine that ran. */
export function baselineEngine(trials: readonly Trial[]): string | undefined {
  const ran = new Set<string>(trials.map((t) => t.engine));
  return ['iptables', 'nft', 'chain'].find((e) => ran.has(e));
}
