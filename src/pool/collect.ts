/**
 * The replay summary's flows, gathered on the main thread while the workers judge: as each
 * reader batch settles, the flows its packets opened (in every slot) are put in the order of
 * their first packets — FlowTable's first-seen order — with what is known of them then (name,
 * first verdicts, reason, the slot and id that count them), in flat arrays. At the end, with
 * every slot's counters in hand, each flow becomes its FlowSummary object in one go, already
 * in report order.
 *
 * Only the first `maxFlows` connections of the trace are listed; the flows the slots kept beyond
 * them (each slot keeps its own first maxFlows) and each slot's `others` are added up in the
 * summary's `others`, as FlowTable does with the same cap.
 *
 * Why so: on two cores the main thread's time is taken from a worker, so it does as little per
 * flow as it can. An object made once with its final values is cheap; one made early and
 * filled in later costs a second pass of writes into old-generation objects, and a hundred
 * thousand objects alive during the replay make every young-generation collection copy them.
 */
import { VERDICT_ALLOW, verdictName } from '../engines/engine.js';
import { PfsimError } from '../errors.js';
import { emptyOthers, type FlowSummary, type OtherFlows } from '../verdict/summary.js';
import type { FlowCounters, NewFlows } from './flows.js';
import type { RingBatch } from './ring.js';

type Verdicts = Readonly<Record<string, 'allow' | 'deny'>>;

/** One slot's share of a settled reader batch. */
export interface SettledPart {
  /** `at`: positions in the reader batch */
  readonly newFlows: NewFlows;
  /** the slot's reason texts by id, this batch's new ones included */
  readonly reasons: readonly string[];
}

export interface CollectedFlows {
  /** report order, as orderFlows gives it */
  readonly flows: FlowSummary[];
  /** present when connections beyond maxFlows were seen */
  readonly others?: OtherFlows;
  /** aws departures added up by reason code, as departureTotals gives them; absent when none */
  readonly departures?: Record<string, number>;
}

export class FlowCollector {
  private readonly engineNames: readonly string[];
  private readonly slots: number;
  private readonly maxFlows: number;
  /** per slot: ids of the flows it kept that come after the first maxFlows of the trace */
  private readonly dropped: number[][];
  /** per flow in first-seen order: its name, reason, slot, first-verdict code */
  private readonly names: string[] = [];
  private readonly reasons: string[] = [];
  private slotOf = new Uint8Array(1024);
  private codeOf = new Uint32Array(1024);
  /** flows so far per slot: the next flow id of each */
  private readonly perSlot: number[];
  /** flows share the (readonly) verdicts object of their combination of first verdicts */
  private readonly verdictsByCode: Verdicts[] = [];

  constructor(engineNames: readonly string[], slots: number, maxFlows: number) {
    this.engineNames = engineNames;
    this.slots = slots;
    this.maxFlows = maxFlows;
    this.dropped = Array.from({ length: slots }, () => []);
    this.perSlot = new Array<number>(slots).fill(0);
  }

  /**
   * The new flows of reader batch `r`, whose trace index starts at `base`; `parts` by slot.
   * Their first packets' verdicts and reasons are read from `r`.
   */
  add(r: RingBatch, parts: readonly (SettledPart | undefined)[]): void {
    const names = parts.map((p) => (p && p.newFlows.at.length > 0 ? p.newFlows.names.split('\n') : []));
    const next = new Array<number>(parts.length).fill(0);
    const e = this.engineNames.length;
    for (;;) {
      // the slot whose next new flow came first (a handful of slots: a scan beats a heap)
      let s = -1, best = Infinity;
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k];
        if (p === undefined || next[k]! >= p.newFlows.at.length) continue;
        const first = p.newFlows.at[next[k]!]!;
        if (first < best) { best = first; s = k; }
      }
      if (s < 0) return;
      const p = parts[s]!;
      const j = p.newFlows.at[next[s]!]!;
      if (this.names.length >= this.maxFlows) {
        this.dropped[s]!.push(this.perSlot[s]!++);
        next[s]!++;
        continue;
      }
      let code = 0;
      for (let k = 0; k < e; k++) code = code * 2 + (r.verdicts[j * e + k] === VERDICT_ALLOW ? 0 : 1);
      this.verdictsByCode[code] ??= this.verdictsOf(r.verdicts, j * e);
      const i = this.names.length;
      if (i === this.slotOf.length) this.grow();
      this.slotOf[i] = s;
      this.codeOf[i] = code;
      this.names.push(names[s]![next[s]!]!);
      this.reasons.push(p.reasons[r.reasons[j]!]!);
      this.perSlot[s]!++;
      next[s]!++;
    }
  }

  /** Every flow as its FlowSummary (one FlowCounters per slot), in report order. */
  finish(counters: readonly FlowCounters[]): CollectedFlows {
    if (counters.length !== this.slots) throw new PfsimError('PFSIM_ERR_WORKER', `replay pool: counters of ${counters.length} slots, expected ${this.slots}`);
    counters.forEach((c, s) => {
      if (c.count !== this.perSlot[s]) throw new PfsimError('PFSIM_ERR_WORKER', `replay worker ${s + 1}: counted ${c.count} flows, reported ${this.perSlot[s]}`);
    });
    const departed = counters.map((c) => new Map(c.departures.map(([id, list]) => [id, Object.fromEntries(list)])));
    const n = this.names.length;
    // orderFlows' groups (disagreements, aws departures, denied, allowed), first-seen order in
    // each: every flow's group first, so each object is written once, straight to its place
    const group = new Uint8Array(n);
    const starts = [0, 0, 0, 0];
    const id = new Array<number>(this.slots).fill(0);
    for (let i = 0; i < n; i++) {
      const s = this.slotOf[i]!;
      const f = id[s]!++;
      const g = counters[s]!.disagreements[f]! > 0 ? 0 : departed[s]!.has(f) ? 1 : this.codeOf[i] !== 0 ? 2 : 3;
      group[i] = g;
      starts[g]!++;
    }
    for (let g = 3, end = n; g >= 0; g--) starts[g] = end -= starts[g]!;
    // the first two groups are the flows that can depart
    const departing = starts[2]!;
    const flows = new Array<FlowSummary>(n);
    this.fill(flows, group, starts, counters, departed);
    const others = this.others(counters);
    const departures = departureTotals(flows.slice(0, departing), others ? [others] : []);
    return { flows, ...(others ? { others } : {}), ...(departures ? { departures } : {}) };
  }

  /** Makes every flow's FlowSummary at `starts[its group]++` of `flows` (`starts` moves on). */
  private fill(flows: FlowSummary[], group: Uint8Array, starts: number[], counters: readonly FlowCounters[], departed: readonly Map<number, Record<string, number>>[]): void {
    const allowed = allowedMaker(this.engineNames);
    const e = this.engineNames.length;
    const id = new Array<number>(this.slots).fill(0);
    for (let i = 0; i < flows.length; i++) {
      const s = this.slotOf[i]!;
      const c = counters[s]!;
      const n = id[s]!++;
      const departures = departed[s]!.get(n);
      // the same fields in the same order as FlowTable's, so JSON output is byte-identical
      flows[starts[group[i]!]!++] = departures
        ? {
          flow: this.names[i]!, packets: c.packets[n]!, bytes: c.bytes[n]!, verdicts: this.verdictsByCode[this.codeOf[i]!]!,
          allowed: allowed(c.allowed, n * e), disagreements: c.disagreements[n]!, reason: this.reasons[i]!, departures,
        }
        : {
          flow: this.names[i]!, packets: c.packets[n]!, bytes: c.bytes[n]!, verdicts: this.verdictsByCode[this.codeOf[i]!]!,
          allowed: allowed(c.allowed, n * e), disagreements: c.disagreements[n]!, reason: this.reasons[i]!,
        };
    }
  }

  /** The slots' flows after the first maxFlows and their `others`, added up; undefined when none. */
  private others(counters: readonly FlowCounters[]): OtherFlows | undefined {
    if (counters.every((c, s) => c.others === undefined && this.dropped[s]!.length === 0)) return undefined;
    const e = this.engineNames.length;
    const o = emptyOthers(this.maxFlows, this.engineNames);
    const departures = new Map<string, number>();
    const add = (packets: number, bytes: number, disagreements: number, allowed: (k: number) => number, deps: readonly (readonly [string, number])[]) => {
      o.packets += packets;
      o.bytes += bytes;
      o.disagreements += disagreements;
      for (let k = 0; k < e; k++) o.allowed[this.engineNames[k]!]! += allowed(k);
      for (const [code, n] of deps) departures.set(code, (departures.get(code) ?? 0) + n);
    };
    counters.forEach((c, s) => {
      const deps = new Map(c.departures);
      for (const id of this.dropped[s]!) add(c.packets[id]!, c.bytes[id]!, c.disagreements[id]!, (k) => c.allowed[id * e + k]!, deps.get(id) ?? []);
      if (c.others) add(c.others.packets, c.others.bytes, c.others.disagreements, (k) => c.others!.allowed[k]!, c.others.departures);
    });
    // by code: the slots met them in an order of their own
    if (departures.size > 0) o.departures = Object.fromEntries([...departures].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    return o;
  }

  private grow(): void {
    const slotOf = new Uint8Array(this.slotOf.length * 2);
    slotOf.set(this.slotOf);
    this.slotOf = slotOf;
    const codeOf = new Uint32Array(this.codeOf.length * 2);
    codeOf.set(this.codeOf);
    this.codeOf = codeOf;
  }

  private verdictsOf(codes: Uint8Array, at: number): Verdicts {
    const v: Record<string, 'allow' | 'deny'> = {};
    this.engineNames.forEach((name, k) => { v[name] = verdictName(codes[at + k]!); });
    return v;
  }
}

/**
 * departureTotals over the flows in report order, looking only at the groups that can depart
 * (flows with disagreements first, then those with departures).
 */
function departureTotals(...groups: readonly Pick<FlowSummary, 'departures'>[][]): Record<string, number> | undefined {
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

/**
 * A function making a flow's `allowed` object ({engine: packets allowed}, in engine order) from
 * `counts[at ..]`. The engine list is fixed for a replay, so the object is written as one
 * literal: every flow's object then has the same shape from the start, which keyed stores
 * into an empty object do not give. Engine names come from the fixed set of EngineName and
 * are quoted with JSON.stringify besides.
 */
function allowedMaker(names: readonly string[]): (counts: Uint32Array, at: number) => Record<string, number> {
  const fields = names.map((n, k) => `${JSON.stringify(n)}: c[o + ${k}]`).join(', ');
  return new Function('c', 'o', `return { ${fields} };`) as (counts: Uint32Array, at: number) => Record<string, number>;
}
