/**
 * The replay summary's flows, put together on the main thread after the last batch: every
 * slot's flows arrive with their first packets' places in the trace, their first verdicts,
 * reason ids, names and counters, in typed arrays and one string per slot. A merge of the
 * slots' lists by first place gives FlowTable's first-seen order; each flow then becomes its
 * FlowSummary object once, with its final values, straight at its report place.
 *
 * Only the first `maxFlows` connections of the trace are listed; the flows the slots kept beyond
 * them (each slot keeps its own first maxFlows) and each slot's `others` are added up in the
 * summary's `others`, as FlowTable does with the same cap.
 *
 * Why at the end: on two cores the main thread's time is taken from a worker while they judge.
 * Flows described batch by batch cost the main thread a message, a string and a place in
 * first-seen order per batch, and a hundred thousand objects alive during the replay make
 * every young-generation collection copy them; at the end it is one pass.
 */
import { VERDICT_ALLOW, verdictName } from '../engines/engine.js';
import { PfsimError } from '../errors.js';
import { emptyOthers, type FlowSummary, type OtherFlows } from '../verdict/summary.js';
import type { FlowCounters } from './flows.js';

type Verdicts = Readonly<Record<string, 'allow' | 'deny'>>;

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

  constructor(engineNames: readonly string[], slots: number, maxFlows: number) {
    this.engineNames = engineNames;
    this.slots = slots;
    this.maxFlows = maxFlows;
  }

  /**
   * Every listed flow as its FlowSummary, in report order, from each slot's counters and
   * reason texts (by id), both by slot.
   */
  finish(counters: readonly FlowCounters[], reasons: readonly (readonly string[])[]): CollectedFlows {
    if (counters.length !== this.slots) throw new PfsimError('PFSIM_ERR_WORKER', `replay pool: counters of ${counters.length} slots, expected ${this.slots}`);
    const e = this.engineNames.length;
    counters.forEach((c, s) => {
      const short = [c.first, c.groups, c.nameEnds, c.reasons, c.packets, c.bytes, c.disagreements].some((a) => a.length !== c.count)
        || c.verdicts.length !== c.count * e || c.allowed.length !== c.count * e || (c.count > 0 && c.nameEnds[c.count - 1]! >= c.names.length);
      if (short) throw new PfsimError('PFSIM_ERR_WORKER', `replay worker ${s + 1}: flow counters of ${c.count} flows do not hold them all`);
    });
    const { slotOf, idOf, dropped } = this.merge(counters);
    const n = slotOf.length;
    const departed = counters.map((c) => new Map(c.departures.map(([id, list]) => [id, Object.fromEntries(list)])));
    // orderFlows' groups (disagreements, aws departures, denied, allowed; the slots ranked
    // their flows), first-seen order in each: every flow's group first, so each object is
    // written once, straight to its place
    const group = new Uint8Array(n);
    const starts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const g = counters[slotOf[i]!]!.groups[idOf[i]!]!;
      group[i] = g;
      starts[g]!++;
    }
    for (let g = 3, end = n; g >= 0; g--) starts[g] = end -= starts[g]!;
    // the first two groups are the flows that can depart
    const departing = starts[2]!;
    const flows = new Array<FlowSummary>(n);
    this.fill(flows, { slotOf, idOf, group, starts }, counters, reasons, departed);
    const others = this.others(counters, dropped);
    const departures = departureTotals(flows.slice(0, departing), others ? [others] : []);
    return { flows, ...(others ? { others } : {}), ...(departures ? { departures } : {}) };
  }

  /**
   * The first maxFlows flows of the trace, by slot and id, in first-seen order (each slot's own
   * are in it already: a merge), and per slot the ids of the flows it kept after them.
   */
  private merge(counters: readonly FlowCounters[]): { slotOf: Uint8Array; idOf: Uint32Array; dropped: number[][] } {
    const total = counters.reduce((a, c) => a + c.count, 0);
    const n = Math.min(total, this.maxFlows);
    const slotOf = new Uint8Array(n);
    const idOf = new Uint32Array(n);
    const next = new Array<number>(counters.length).fill(0);
    for (let i = 0; i < n; i++) {
      // the slot whose next flow came first (a handful of slots: a scan beats a heap)
      let s = -1, best = Infinity;
      for (let k = 0; k < counters.length; k++) {
        const c = counters[k]!;
        if (next[k]! < c.count && c.first[next[k]!]! < best) { best = c.first[next[k]!]!; s = k; }
      }
      slotOf[i] = s;
      idOf[i] = next[s]!++;
    }
    const dropped = counters.map((c, s) => Array.from({ length: c.count - next[s]! }, (_, j) => next[s]! + j));
    return { slotOf, idOf, dropped };
  }

  /**
   * Makes every listed flow's FlowSummary at `starts[its group]++` of `flows` (`starts` moves
   * on); `at` gives each flow's slot, id and group, in first-seen order.
   */
  private fill(
    flows: FlowSummary[], at: { slotOf: Uint8Array; idOf: Uint32Array; group: Uint8Array; starts: number[] },
    counters: readonly FlowCounters[], reasons: readonly (readonly string[])[], departed: readonly Map<number, Record<string, number>>[],
  ): void {
    const allowed = allowedInterner(this.engineNames);
    const e = this.engineNames.length;
    // flows share the (readonly) verdicts object of their combination of first verdicts
    const verdictsByCode: Verdicts[] = [];
    const { slotOf, idOf, group, starts } = at;
    for (let i = 0; i < flows.length; i++) {
      const s = slotOf[i]!, n = idOf[i]!;
      const c = counters[s]!;
      let code = 0;
      for (let k = 0; k < e; k++) code = code * 2 + (c.verdicts[n * e + k] === VERDICT_ALLOW ? 0 : 1);
      const verdicts = (verdictsByCode[code] ??= this.verdictsOf(c.verdicts, n * e));
      const flow = c.names.slice(n === 0 ? 0 : c.nameEnds[n - 1]! + 1, c.nameEnds[n]!);
      const reason = reasons[s]![c.reasons[n]!]!;
      const departures = departed[s]!.get(n);
      // the same fields in the same order as FlowTable's, so JSON output is byte-identical
      flows[starts[group[i]!]!++] = departures
        ? {
          flow, packets: c.packets[n]!, bytes: c.bytes[n]!, verdicts,
          allowed: allowed(c.allowed, n * e), disagreements: c.disagreements[n]!, reason, departures,
        }
        : {
          flow, packets: c.packets[n]!, bytes: c.bytes[n]!, verdicts,
          allowed: allowed(c.allowed, n * e), disagreements: c.disagreements[n]!, reason,
        };
    }
  }

  /** The slots' flows after the first maxFlows (`dropped`, by slot) and their `others`, added up; undefined when none. */
  private others(counters: readonly FlowCounters[], dropped: readonly (readonly number[])[]): OtherFlows | undefined {
    if (counters.every((c, s) => c.others === undefined && dropped[s]!.length === 0)) return undefined;
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
      for (const id of dropped[s]!) add(c.packets[id]!, c.bytes[id]!, c.disagreements[id]!, (k) => c.allowed[id * e + k]!, deps.get(id) ?? []);
      if (c.others) add(c.others.packets, c.others.bytes, c.others.disagreements, (k) => c.others!.allowed[k]!, c.others.departures);
    });
    // by code: the slots met them in an order of their own
    if (departures.size > 0) o.departures = Object.fromEntries([...departures].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    return o;
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

/**
 * allowedMaker, but flows with the same counts share one frozen object: a hundred thousand
 * flows hold a few hundred combinations, and every object the main thread makes after the last
 * batch is a serial share of the replay. Looked up by one Map per engine, nested.
 */
function allowedInterner(names: readonly string[]): (counts: Uint32Array, at: number) => Record<string, number> {
  const make = allowedMaker(names);
  const last = names.length - 1;
  const root = new Map<number, unknown>();
  return (counts, at) => {
    let m = root;
    for (let k = 0; k < last; k++) {
      const v = counts[at + k]!;
      let next = m.get(v) as Map<number, unknown> | undefined;
      if (next === undefined) m.set(v, (next = new Map()));
      m = next;
    }
    const v = counts[at + last]!;
    let o = m.get(v) as Record<string, number> | undefined;
    if (o === undefined) m.set(v, (o = Object.freeze(make(counts, at))));
    return o;
  };
}
