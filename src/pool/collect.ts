/**
 * The replay summary's flows, put together on the main thread after the last batch: every
 * slot's flows arrive with their first packets' places in the trace, their first verdicts,
 * reason ids, names (ASCII bytes) and counters, in typed arrays. A merge of the
 * slots' lists by first place gives FlowTable's first-seen order, and each flow's report
 * group (ranked by its slot) its place in report order.
 *
 * The flows stay in those columns (SlotFlows, a FlowList): a flow's FlowSummary object is
 * made when someone reads it, and all of them at once only for JSON. On two cores the main
 * thread's work after the last batch is a serial share of the replay, and a hundred thousand
 * objects kept at once cost it most: they are written to fresh memory and copied by the
 * garbage collector as they survive. Objects that live for one line of a report cost neither.
 *
 * Only the first `maxFlows` connections of the trace are listed; the flows the slots kept beyond
 * them (each slot keeps its own first maxFlows) and each slot's `others` are added up in the
 * summary's `others`, as FlowTable does with the same cap.
 *
 * Why at the end: on two cores the main thread's time is taken from a worker while they judge.
 * Flows described batch by batch cost the main thread a message, a string and a place in
 * first-seen order per batch; at the end it is one pass over typed arrays.
 */
import { VERDICT_ALLOW, verdictName } from '../engines/engine.js';
import { nativeFunction } from '../engines/native.js';
import { PfsimError } from '../errors.js';
import { departureTotals, emptyOthers, type FlowList, type FlowSummary, type OtherFlows } from '../verdict/summary.js';
import type { FlowCounters } from './flows.js';

type Verdicts = Readonly<Record<string, 'allow' | 'deny'>>;
type OrderFlows = (firsts: Float64Array[], groups: Uint8Array[], limit: number, outSlot: Uint8Array, outId: Uint32Array, taken: Uint32Array, groupLen: Uint32Array) => number;
/** the addon's orderFlows (pfp_order_flows), looked up on first use */
let nativeOrder: OrderFlows | undefined;

export interface CollectedFlows {
  /** report order, as FlowTable's orderFlows (src/verdict/summary.ts) gives it */
  readonly flows: SlotFlows;
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
   * The listed flows in report order (a SlotFlows over each slot's counters and reason texts
   * by id, both by slot), the others and the departure totals.
   */
  finish(counters: readonly FlowCounters[], reasons: readonly (readonly string[])[]): CollectedFlows {
    if (counters.length !== this.slots) throw new PfsimError('PFSIM_ERR_WORKER', `replay pool: counters of ${counters.length} slots, expected ${this.slots}`);
    const e = this.engineNames.length;
    counters.forEach((c, s) => {
      const short = [c.first, c.groups, c.nameEnds, c.reasons, c.packets, c.bytes, c.disagreements].some((a) => a.length !== c.count)
        || c.verdicts.length !== c.count * e || c.allowed.length !== c.count * e || (c.count > 0 && c.nameEnds[c.count - 1]! >= c.names.length);
      if (short) throw new PfsimError('PFSIM_ERR_WORKER', `replay worker ${s + 1}: flow counters of ${c.count} flows do not hold them all`);
    });
    const { place, departing, dropped } = this.order(counters);
    const departed = counters.map((c) => new Map(c.departures.map(([id, list]) => [id, Object.fromEntries(list)])));
    const flows = new SlotFlows(this.engineNames, counters, reasons, departed, place);
    const others = this.others(counters, departed, dropped);
    const departures = departureTotals([...flows.slice(0, departing), ...(others ? [others] : [])]);
    return { flows, ...(others ? { others } : {}), ...(departures ? { departures } : {}) };
  }

  /**
   * The first maxFlows flows of the trace, by slot and id, in report order: a merge of the
   * slots' lists by first place (each slot's is in first-seen order already) gives FlowTable's
   * first-seen order, and each flow's group (reportGroup's: disagreements, aws departures,
   * denied, allowed; ranked by its slot) its run. Also the length of the first two groups (the
   * flows that can depart) and per slot the ids of the flows it kept after the first maxFlows.
   * In C (pfp_order_flows, native/src/pool/order.h): this runs once per replay, after the last
   * batch, where JavaScript would still be cold.
   */
  private order(counters: readonly FlowCounters[]): { place: { slot: Uint8Array; id: Uint32Array }; departing: number; dropped: number[][] } {
    const n = Math.min(counters.reduce((a, c) => a + c.count, 0), this.maxFlows);
    const place = { slot: new Uint8Array(n), id: new Uint32Array(n) };
    const taken = new Uint32Array(counters.length), groupLen = new Uint32Array(4);
    nativeOrder ??= nativeFunction<OrderFlows>('orderFlows');
    nativeOrder(counters.map((c) => c.first), counters.map((c) => c.groups), n, place.slot, place.id, taken, groupLen);
    const dropped = counters.map((c, s) => Array.from({ length: c.count - taken[s]! }, (_, j) => taken[s]! + j));
    return { place, departing: groupLen[0]! + groupLen[1]!, dropped };
  }

  /**
   * The slots' flows after the first maxFlows (`dropped`, by slot; their departures in
   * `departed`) and their `others`, added up; undefined when none.
   */
  private others(
    counters: readonly FlowCounters[], departed: readonly ReadonlyMap<number, Record<string, number>>[], dropped: readonly (readonly number[])[],
  ): OtherFlows | undefined {
    if (counters.every((c, s) => c.others === undefined && dropped[s]!.length === 0)) return undefined;
    const e = this.engineNames.length;
    const o = emptyOthers(this.maxFlows, this.engineNames);
    const departures = new Map<string, number>();
    const add = (packets: number, bytes: number, disagreements: number, allowed: (k: number) => number, deps: Iterable<readonly [string, number]>) => {
      o.packets += packets;
      o.bytes += bytes;
      o.disagreements += disagreements;
      for (let k = 0; k < e; k++) o.allowed[this.engineNames[k]!]! += allowed(k);
      for (const [code, n] of deps) departures.set(code, (departures.get(code) ?? 0) + n);
    };
    counters.forEach((c, s) => {
      for (const id of dropped[s]!) add(c.packets[id]!, c.bytes[id]!, c.disagreements[id]!, (k) => c.allowed[id * e + k]!, Object.entries(departed[s]!.get(id) ?? {}));
      if (c.others) add(c.others.packets, c.others.bytes, c.others.disagreements, (k) => c.others!.allowed[k]!, c.others.departures);
    });
    // by code: the slots met them in an order of their own
    if (departures.size > 0) o.departures = Object.fromEntries([...departures].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    return o;
  }
}

/**
 * A pool replay's listed flows in report order, column by column: by report place, the slot
 * and id of each flow in the slots' counters. A flow's object is made at each read, with the
 * same fields in the same order as FlowTable's, so JSON output is byte-identical; flows with
 * the same first verdicts share one (readonly) verdicts object, and flows with the same
 * allowed counts one frozen allowed object.
 */
export class SlotFlows implements FlowList {
  readonly length: number;
  private readonly e: number;
  private readonly verdictsByCode: Verdicts[] = [];
  private readonly names: string[] = [];
  private readonly allowed: (counts: Uint32Array, at: number) => Record<string, number>;

  constructor(
    private readonly engineNames: readonly string[],
    private readonly counters: readonly FlowCounters[],
    private readonly reasons: readonly (readonly string[])[],
    private readonly departed: readonly ReadonlyMap<number, Record<string, number>>[],
    private readonly place: { readonly slot: Uint8Array; readonly id: Uint32Array },
  ) {
    this.length = place.slot.length;
    this.e = engineNames.length;
    this.allowed = allowedInterner(engineNames);
  }

  /** Flow `i` (negative: from the end, as Array.prototype.at), a new object at each call. */
  at(i: number): FlowSummary | undefined {
    const k = Math.trunc(i);
    const j = k < 0 ? k + this.length : k;
    return j >= 0 && j < this.length ? this.make(j) : undefined;
  }

  *[Symbol.iterator](): Iterator<FlowSummary> {
    for (let i = 0; i < this.length; i++) yield this.make(i);
  }

  /** Flows `from` up to `to` (not included), as objects. */
  slice(from: number, to: number): FlowSummary[] {
    const out: FlowSummary[] = [];
    for (let i = Math.max(0, from); i < Math.min(to, this.length); i++) out.push(this.make(i));
    return out;
  }

  /** Every flow's object, in report order: JSON.stringify writes the list as FlowTable's array. */
  toJSON(): FlowSummary[] {
    return this.slice(0, this.length);
  }

  private make(i: number): FlowSummary {
    const s = this.place.slot[i]!, n = this.place.id[i]!;
    const c = this.counters[s]!;
    const e = this.e;
    let code = 0;
    for (let k = 0; k < e; k++) code = code * 2 + (c.verdicts[n * e + k] === VERDICT_ALLOW ? 0 : 1);
    const verdicts = (this.verdictsByCode[code] ??= this.verdictsOf(c.verdicts, n * e));
    const flow = this.namesOf(s).slice(n === 0 ? 0 : c.nameEnds[n - 1]! + 1, c.nameEnds[n]!);
    const reason = this.reasons[s]![c.reasons[n]!]!;
    const departures = this.departed[s]!.get(n);
    return departures
      ? {
        flow, packets: c.packets[n]!, bytes: c.bytes[n]!, verdicts,
        allowed: this.allowed(c.allowed, n * e), disagreements: c.disagreements[n]!, reason, departures,
      }
      : {
        flow, packets: c.packets[n]!, bytes: c.bytes[n]!, verdicts,
        allowed: this.allowed(c.allowed, n * e), disagreements: c.disagreements[n]!, reason,
      };
  }

  /** Slot `s`'s names as one string, decoded from its bytes when a name is first read. */
  private namesOf(s: number): string {
    const b = this.counters[s]!.names;
    return (this.names[s] ??= Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1'));
  }

  private verdictsOf(codes: Uint8Array, at: number): Verdicts {
    const v: Record<string, 'allow' | 'deny'> = {};
    this.engineNames.forEach((name, k) => { v[name] = verdictName(codes[at + k]!); });
    return v;
  }
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
 * flows hold a few hundred combinations, so the JSON's array of every flow holds a few hundred
 * of these objects, not a hundred thousand. Looked up by one Map per engine, nested.
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
