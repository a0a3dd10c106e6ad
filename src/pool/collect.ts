/**
 * The replay summary's flows, made on the main thread while the workers judge: as each reader
 * batch settles, the flows its packets opened (in every slot) become FlowSummary objects, in
 * the order of their first packets — FlowTable's first-seen order; at the end only the
 * counters are filled in from each slot's FlowCounters and the flows put in report order. So
 * the one object per flow the summary needs is not a serial step after the last packet.
 */
import { VERDICT_ALLOW, verdictName } from '../engines/engine.js';
import { PfsimError } from '../errors.js';
import type { FlowSummary } from '../verdict/summary.js';
import type { SlotBatch } from './batch.js';
import type { FlowCounters, NewFlows } from './flows.js';

type Verdicts = Readonly<Record<string, 'allow' | 'deny'>>;

/** One slot's share of a settled reader batch. */
export interface SettledPart {
  readonly batch: SlotBatch;
  readonly newFlows: NewFlows;
  /** the slot's reason texts by id, this batch's new ones included */
  readonly reasons: readonly string[];
}

export interface CollectedFlows {
  /** report order, as orderFlows gives it */
  readonly flows: FlowSummary[];
  /** aws departures added up by reason code, as departureTotals gives them; absent when none */
  readonly departures?: Record<string, number>;
}

export class FlowCollector {
  private readonly engineNames: readonly string[];
  /** per slot: its flows by flow id */
  private readonly bySlot: FlowSummary[][];
  private readonly firstSeen: FlowSummary[] = [];
  /** per flow in firstSeen order: whether an engine denied its first packet */
  private denied = new Uint8Array(1024);
  /** flows share the (readonly) verdicts object of their combination of first verdicts */
  private readonly verdictsByCode: Verdicts[] = [];

  constructor(engineNames: readonly string[], slots: number) {
    this.engineNames = engineNames;
    this.bySlot = Array.from({ length: slots }, () => []);
  }

  /** The new flows of one reader batch whose trace index starts at `base`; `parts` by slot. */
  add(base: number, parts: readonly (SettledPart | undefined)[]): void {
    const names = parts.map((p) => (p && p.newFlows.at.length > 0 ? p.newFlows.names.split('\n') : []));
    const next = new Array<number>(parts.length).fill(0);
    for (;;) {
      // the slot whose next new flow came first (a handful of slots: a scan beats a heap)
      let s = -1, best = Infinity;
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k];
        if (p === undefined || next[k]! >= p.newFlows.at.length) continue;
        const first = base + p.batch.offsets[p.newFlows.at[next[k]!]!]!;
        if (first < best) { best = first; s = k; }
      }
      if (s < 0) return;
      const p = parts[s]!;
      const f = this.flow(names[s]![next[s]!]!, p.batch, p.newFlows.at[next[s]!]!, p.reasons);
      next[s]!++;
      this.bySlot[s]!.push(f);
      this.firstSeen.push(f);
    }
  }

  /** Fills in every flow's counters (one FlowCounters per slot) and puts them in report order. */
  finish(counters: readonly FlowCounters[]): CollectedFlows {
    const e = this.engineNames.length;
    counters.forEach((c, s) => {
      const flows = this.bySlot[s]!;
      if (c.count !== flows.length) throw new PfsimError('PFSIM_ERR_WORKER', `replay worker ${s + 1}: counted ${c.count} flows, reported ${flows.length}`);
      for (let id = 0; id < c.count; id++) {
        const f = flows[id]!;
        f.packets = c.packets[id]!;
        f.bytes = c.bytes[id]!;
        f.disagreements = c.disagreements[id]!;
        for (let k = 0; k < e; k++) f.allowed[this.engineNames[k]!] = c.allowed[id * e + k]!;
      }
      for (const [id, list] of c.departures) flows[id]!.departures = Object.fromEntries(list);
    });
    // orderFlows' groups (disagreements, aws departures, denied, allowed), first-seen order in
    // each, in one pass over data at hand rather than a look at every flow's objects
    const groups: FlowSummary[][] = [[], [], [], []];
    for (let i = 0; i < this.firstSeen.length; i++) {
      const f = this.firstSeen[i]!;
      groups[f.disagreements > 0 ? 0 : f.departures ? 1 : this.denied[i] ? 2 : 3]!.push(f);
    }
    const flows = groups.flat();
    const departures = this.departureTotals(groups);
    return departures ? { flows, departures } : { flows };
  }

  /** departureTotals over the flows in report order, looking only at those that depart. */
  private departureTotals(groups: readonly FlowSummary[][]): Record<string, number> | undefined {
    let totals: Record<string, number> | undefined;
    for (const g of groups) {
      for (const f of g) {
        if (!f.departures) continue;
        totals ??= {};
        for (const [code, n] of Object.entries(f.departures)) totals[code] = (totals[code] ?? 0) + n;
      }
    }
    return totals;
  }

  /** A flow opened by packet `j` of `batch`, counters still zero. */
  private flow(name: string, batch: SlotBatch, j: number, reasons: readonly string[]): FlowSummary {
    const e = this.engineNames.length;
    let code = 0;
    for (let k = 0; k < e; k++) code = code * 2 + (batch.verdicts[j * e + k] === VERDICT_ALLOW ? 0 : 1);
    const verdicts = (this.verdictsByCode[code] ??= this.verdictsOf(batch.verdicts, j * e));
    const i = this.firstSeen.length;
    if (i === this.denied.length) {
      const d = new Uint8Array(i * 2);
      d.set(this.denied);
      this.denied = d;
    }
    this.denied[i] = code === 0 ? 0 : 1;
    const allowed: Record<string, number> = {};
    for (const name of this.engineNames) allowed[name] = 0;
    // the same fields in the same order as FlowTable's, so JSON output is byte-identical
    return { flow: name, packets: 0, bytes: 0, verdicts, allowed, disagreements: 0, reason: reasons[batch.reasons[j]!]! };
  }

  private verdictsOf(codes: Uint8Array, at: number): Verdicts {
    const v: Record<string, 'allow' | 'deny'> = {};
    this.engineNames.forEach((name, k) => { v[name] = verdictName(codes[at + k]!); });
    return v;
  }
}
