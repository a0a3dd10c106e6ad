/**
 * Per-connection summary of a replay: packets of both directions of a 5-tuple form one flow,
 * named after its first packet (the initiator). A flow's verdict per engine is the verdict of
 * its first packet; allowed-packet counts show what conntrack let through afterwards.
 *
 * Memory stays bounded on any capture: the first `maxFlows` connections (in first-seen order)
 * are listed one by one, and the packets of every later one are added up in `others`, so
 * packets in = packets of the listed flows + others + skipped, always.
 */
import type { PacketVerdict } from './replay.js';
import { parseCount } from '../options.js';

export interface FlowSummary {
  readonly flow: string;
  packets: number;
  bytes: number;
  /** verdict of the first packet, per engine */
  readonly verdicts: Readonly<Record<string, 'allow' | 'deny'>>;
  /**
   * packets allowed, per engine (in a pool replay's summary, flows with the same counts share
   * one frozen object)
   */
  readonly allowed: Record<string, number>;
  /** packets on which the engines disagreed */
  disagreements: number;
  readonly reason: string;
  /** packets on which the aws engine departs from Kubernetes semantics, by reason code (absent: none) */
  departures?: Record<string, number>;
}

/** The packets of connections beyond the first `maxFlows`, added up (no per-connection state). */
export interface OtherFlows {
  /** the cap that was reached */
  readonly maxFlows: number;
  packets: number;
  bytes: number;
  /** packets allowed, per engine */
  readonly allowed: Record<string, number>;
  disagreements: number;
  departures?: Record<string, number>;
}

/** Flows listed one by one unless a caller asks otherwise: about 100 MB of summary at most. */
export const DEFAULT_MAX_FLOWS = 250_000;

/** Parses --max-flows: an integer ≥ 1, or PfsimError PFSIM_ERR_USAGE. */
export function parseMaxFlows(text: string): number {
  return parseCount('--max-flows', text);
}

/**
 * A summary's listed flows, in report order. FlowTable gives an array; a pool replay gives
 * its flows column by column (SlotFlows in src/pool/collect.ts), which makes a flow's object
 * when it is read (`at`, iteration), and the array of all of them only for JSON.stringify: a
 * hundred thousand objects kept at once cost the replay's main thread more than counting the
 * flows did.
 */
export interface FlowList extends Iterable<Readonly<FlowSummary>> {
  readonly length: number;
  /** flow `i` in report order (negative: from the end, as Array.prototype.at); undefined past either end */
  at(i: number): Readonly<FlowSummary> | undefined;
}

export interface ReplaySummary {
  readonly flows: FlowList;
  /** present when more connections were seen than `maxFlows` */
  readonly others?: OtherFlows;
  readonly packets: number;
  readonly judged: number;
  readonly skipped: number;
  readonly skippedBy: Record<string, number>;
  readonly disagreements: number;
  /** packets on which the aws engine departs from Kubernetes semantics, by reason code (absent: none) */
  readonly departures?: Record<string, number>;
}

export class FlowTable {
  private readonly flows = new Map<string, FlowSummary>();
  private others: OtherFlows | undefined;
  readonly maxFlows: number;
  packets = 0;
  judged = 0;
  skipped = 0;
  disagreements = 0;
  readonly skippedBy: Record<string, number> = {};

  constructor(maxFlows = DEFAULT_MAX_FLOWS) {
    this.maxFlows = maxFlows;
  }

  add(v: PacketVerdict, bytes: number): void {
    this.packets++;
    if (v.verdict === 'skip') {
      this.skipped++;
      this.skippedBy[v.reason] = (this.skippedBy[v.reason] ?? 0) + 1;
      return;
    }
    this.judged++;
    if (!v.agree) this.disagreements++;
    const a = `${v.src}|${v.sport}`, b = `${v.dst}|${v.dport}`;
    const key = `${v.proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}`;
    let f: FlowSummary | OtherFlows | undefined = this.flows.get(key);
    if (!f && this.flows.size >= this.maxFlows) f = this.others ??= emptyOthers(this.maxFlows, Object.keys(v.engines));
    if (!f) {
      f = {
        flow: flowName(v.proto!, v.src!, v.sport!, v.dst!, v.dport!),
        packets: 0, bytes: 0, verdicts: { ...v.engines }, allowed: {}, disagreements: 0, reason: v.reason,
      };
      for (const e of Object.keys(v.engines)) f.allowed[e] = 0;
      this.flows.set(key, f as FlowSummary);
    }
    f.packets++;
    f.bytes += bytes;
    if (!v.agree) f.disagreements++;
    for (const [e, x] of Object.entries(v.engines)) if (x === 'allow') f.allowed[e] = (f.allowed[e] ?? 0) + 1;
    if (v.departure !== undefined) {
      f.departures ??= {};
      f.departures[v.departure] = (f.departures[v.departure] ?? 0) + 1;
    }
  }

  /** Flows with disagreements first, then aws departures, then denied, then allowed; each group in first-seen order. */
  summary(): ReplaySummary & { readonly flows: FlowSummary[] } {
    const flows = orderFlows([...this.flows.values()]);
    const departures = departureTotals(flows);
    // others' departures by code, as the replay pool gives them
    if (this.others?.departures) this.others.departures = Object.fromEntries(Object.entries(this.others.departures).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    const totals = this.others?.departures ? departureTotals([...flows, this.others]) : departures;
    return {
      flows, ...(this.others ? { others: this.others } : {}), packets: this.packets, judged: this.judged, skipped: this.skipped, skippedBy: { ...this.skippedBy },
      disagreements: this.disagreements, ...(totals ? { departures: totals } : {}),
    };
  }
}

/** An OtherFlows with every count zero, for these engines. */
export function emptyOthers(maxFlows: number, engines: readonly string[]): OtherFlows {
  const allowed: Record<string, number> = {};
  for (const e of engines) allowed[e] = 0;
  return { maxFlows, packets: 0, bytes: 0, allowed, disagreements: 0 };
}

/** The aws departures of every flow added up by reason code; undefined when there are none. */
export function departureTotals(flows: readonly Pick<FlowSummary, 'departures'>[]): Record<string, number> | undefined {
  let totals: Record<string, number> | undefined;
  for (const f of flows) {
    for (const [code, n] of Object.entries(f.departures ?? {})) {
      totals ??= {};
      totals[code] = (totals[code] ?? 0) + n;
    }
  }
  return totals;
}

function departureText(d: Readonly<Record<string, number>>): string {
  return Object.entries(d).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(', ');
}

/** A flow's name from its first packet: `TCP 10.0.0.1:40000 -> [fd00::1]:80`. */
export function flowName(proto: string, src: string, sport: number, dst: string, dport: number): string {
  const end = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  return `${proto} ${end(src, sport)} -> ${end(dst, dport)}`;
}

/** Whether any engine denied; no array per call (this runs once per flow of a large capture). */
export function anyDeny(verdicts: Readonly<Record<string, 'allow' | 'deny'>>): boolean {
  for (const k in verdicts) if (verdicts[k] === 'deny') return true;
  return false;
}

/**
 * A flow's group in report order: 0 the engines disagreed on one of its packets, 1 the aws
 * engine departs from Kubernetes semantics on one, 2 a first verdict denies, 3 allowed. The
 * pool's workers rank their flows with it too (src/pool/flows.ts).
 */
export function reportGroup(disagreements: number, departs: boolean, denied: boolean): 0 | 1 | 2 | 3 {
  return disagreements > 0 ? 0 : departs ? 1 : denied ? 2 : 3;
}

/**
 * Report order of flows given in first-seen order: disagreements first, then flows where the
 * aws engine departs from Kubernetes semantics, then denied, then allowed (reportGroup);
 * first-seen order within each group.
 */
export function orderFlows(firstSeen: readonly FlowSummary[]): FlowSummary[] {
  const rank = (f: FlowSummary) => reportGroup(f.disagreements, f.departures !== undefined, anyDeny(f.verdicts));
  // rank once per flow, not per comparison: a large capture has hundreds of thousands of flows
  const groups: FlowSummary[][] = [[], [], [], []];
  for (const f of firstSeen) groups[rank(f)]!.push(f);
  return groups.flat();
}

/**
 * The length of the longest text, at least `min`. A loop, not Math.max(...lengths): spread
 * arguments overflow the stack at a few hundred thousand flows.
 */
export function widest(texts: readonly string[], min: number): number {
  let w = min;
  for (const t of texts) if (t.length > w) w = t.length;
  return w;
}

export function renderSummary(s: ReplaySummary, engines: readonly string[]): string {
  // one pass for the name column's width and the counts, one for the lines: a pool replay's
  // list makes an object per flow and visit
  let w = 20, denied = 0, departing = 0;
  for (const f of s.flows) {
    if (f.flow.length > w) w = f.flow.length;
    if (anyDeny(f.verdicts)) denied++;
    if (f.departures) departing++;
  }
  const lines: string[] = [];
  lines.push(`${'flow'.padEnd(w)}  ${'packets'.padStart(7)}  ${'bytes'.padStart(9)}  ${engines.map((e) => e.padEnd(12)).join('')}reason`);
  for (const f of s.flows) {
    const cells = engines.map((e) => `${f.verdicts[e]} ${f.allowed[e]}/${f.packets}`.padEnd(12)).join('');
    const departs = f.departures ? `aws departs (${departureText(f.departures)}); ` : '';
    lines.push(`${f.flow.padEnd(w)}  ${String(f.packets).padStart(7)}  ${String(f.bytes).padStart(9)}  ${cells}${f.disagreements ? `DISAGREE on ${f.disagreements} packets; ` : ''}${departs}${f.reason}`);
  }
  if (s.others) {
    const o = s.others;
    const cells = engines.map((e) => `${o.allowed[e]}/${o.packets} allowed`).join(', ');
    lines.push(`${`(connections after the first ${o.maxFlows})`.padEnd(w)}  ${String(o.packets).padStart(7)}  ${String(o.bytes).padStart(9)}  ${cells}${o.disagreements ? `; DISAGREE on ${o.disagreements} packets` : ''}; not listed one by one (--max-flows)`);
  }
  const skipped = Object.entries(s.skippedBy).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push('');
  lines.push(`packets in ${s.packets} = judged ${s.judged} + skipped ${s.skipped}${skipped ? ` (${skipped})` : ''}`);
  lines.push(`flows ${s.flows.length}${s.others ? ' listed' : ''}: ${s.flows.length - denied} allowed, ${denied} denied; engines ${s.disagreements === 0 ? 'agree on every packet' : `disagree on ${s.disagreements} packets`}`);
  if (s.departures) {
    const n = Object.values(s.departures).reduce((a, b) => a + b, 0);
    lines.push(`aws departs from Kubernetes semantics on ${n} packets in ${departing} flows: ${departureText(s.departures)}`);
  }
  return lines.join('\n') + '\n';
}
