/**
 * Per-connection counters built where the packets are judged (a pool worker, or the main
 * thread with one slot), without an object or a string per packet: connections live in an
 * open-addressing table keyed by the canonical 5-tuple (the lower {address, port} end first,
 * as in conntrack), and their counters in typed arrays.
 *
 * Nothing leaves the accumulator while the replay runs: at the end it hands over its own typed
 * arrays, names included (ASCII bytes), with no copy (a worker transfers them), and starts
 * again in fresh ones; the main thread puts the flows of every
 * slot in the order of their first packets' places in the trace (collect.ts). Together they
 * equal src/verdict/summary.ts FlowTable's result for the same packets: one flow
 * per {protocol, unordered pair of ends}, named after its first packet, the first packet's
 * verdict per engine and reason, packets, wire bytes, packets allowed per engine, packets the
 * engines disagreed on, packets the aws engine departed on by reason code.
 *
 * At most `limit` flows are kept (the slot's first ones); packets of later connections are
 * added up in one set of counters, the slot's `others`. The pool lists the first maxFlows
 * connections of the whole trace, and with the same limit in every slot each of those is
 * among its slot's first: so the summary is the same for any number of workers.
 */
import { departureCode } from '../engines/aws-departure.js';
import { OUT_WORDS, VERDICT_ALLOW } from '../engines/engine.js';
import { PKT_BYTES, PKT_OFF_DADDR, PKT_OFF_DPORT, PKT_OFF_PROTO, PKT_OFF_SADDR, PKT_OFF_SPORT } from '../engines/packet.js';
import { protoName } from '../verdict/replay.js';
import { reportGroup } from '../verdict/summary.js';
import { PKT_WORDS } from './flow-hash.js';
import { AsciiWriter, writeFlowName } from './format.js';

const KEY_WORDS = 10; // end a (4), end b (4), ports (1), protocol (1)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const INITIAL_FLOWS = 1024;

/** Every flow's counters at the end of a replay, indexed by flow id (first-seen order). */
export interface FlowCounters {
  readonly count: number;
  /** each flow's first packet's place in the trace (ascending: ids are in first-seen order) */
  readonly first: Float64Array;
  /** each flow's first packet's verdict code, `engines` entries per flow in engine order */
  readonly verdicts: Uint8Array;
  /** each flow's first packet's reason id, in the slot's list (BatchOutcome.newReasons) */
  readonly reasons: Uint32Array;
  /** every flow's name (`TCP 10.0.0.1:40000 -> 10.0.0.2:80`) in ASCII, each ended by '\n' */
  readonly names: Uint8Array;
  /** where each flow's name ends in `names` (its '\n' excluded) */
  readonly nameEnds: Uint32Array;
  /** each flow's group in report order (reportGroup in src/verdict/summary.ts) */
  readonly groups: Uint8Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  readonly disagreements: Uint32Array;
  /** packets allowed, `engines` entries per flow in engine order */
  readonly allowed: Uint32Array;
  /** the flows the aws engine departed on: [flow id, [code, packets] in first-met order] */
  readonly departures: readonly (readonly [number, readonly (readonly [string, number])[]])[];
  /** the packets of connections beyond the limit, added up (absent: none) */
  readonly others?: OtherCounters;
}

export interface OtherCounters {
  packets: number;
  bytes: number;
  disagreements: number;
  /** packets allowed per engine, in engine order */
  readonly allowed: number[];
  /** [code, packets] in first-met order */
  readonly departures: [string, number][];
}

/** The buffers of `c`, for a transferList (each once: the accumulator gave each array its own). */
export function counterBuffers(c: FlowCounters): ArrayBuffer[] {
  return [...new Set([c.first, c.verdicts, c.reasons, c.names, c.nameEnds, c.groups, c.packets, c.bytes, c.disagreements, c.allowed].map((a) => a.buffer as ArrayBuffer))];
}

export class FlowAccumulator {
  private readonly engines: number;
  private readonly tmp = new Int32Array(KEY_WORDS);
  /** table slot → flow id + 1 (0 = empty) */
  private slots = new Int32Array(INITIAL_FLOWS * 2);
  private keys = new Int32Array(INITIAL_FLOWS * KEY_WORDS);
  // the per-flow arrays, given away by take(): see allocate()
  private first!: Float64Array;
  private firstVerdicts!: Uint8Array;
  private reasons!: Uint32Array;
  private nameEnds!: Uint32Array;
  private packets!: Float64Array;
  private bytes!: Float64Array;
  private disagreements!: Uint32Array;
  private allowed!: Uint32Array;
  /** flow id → departure number → packets, in first-met order (departures are rare) */
  private readonly departures = new Map<number, Map<number, number>>();
  private count = 0;
  private limit = Number.POSITIVE_INFINITY;
  private others: { packets: number; bytes: number; disagreements: number; allowed: number[]; departures: Map<number, number> } | undefined;
  private readonly names = new AsciiWriter();

  constructor(engines: number) {
    this.engines = engines;
    this.allocate(INITIAL_FLOWS);
  }

  /**
   * New per-flow arrays for `n` flows, each in a buffer of its own (so take() can transfer
   * them). Every counter of a flow is set when it opens (insert), so nothing is zeroed here or
   * on clear(): the pages of a new array are touched only as flows fill them.
   */
  private allocate(n: number): void {
    const e = this.engines;
    this.first = new Float64Array(n);
    this.firstVerdicts = new Uint8Array(n * e);
    this.reasons = new Uint32Array(n);
    this.nameEnds = new Uint32Array(n);
    this.packets = new Float64Array(n);
    this.bytes = new Float64Array(n);
    this.disagreements = new Uint32Array(n);
    this.allowed = new Uint32Array(n * e);
  }

  get flows(): number {
    return this.count;
  }

  /**
   * Counts judged packet `i` of `pkts` (`words`: the same records as u32), `wire` bytes long,
   * at place `at` of the trace, whose verdicts are at `i` of `outs` (one array per engine), on
   * which the engines `agree` or not and the aws engine departs (`departure`, 0: not).
   * Returns the id of the flow it opened, or -1 when it opened none (then give the new flow
   * its reason: setReason).
   */
  add(pkts: Uint8Array, words: Uint32Array, i: number, at: number, wire: number, outs: readonly Uint32Array[], agree: boolean, departure: number): number {
    const before = this.count;
    const id = this.findOrInsert(this.canonicalKey(pkts, words, i), pkts, i, at, outs);
    const e = this.engines;
    if (id < 0) {
      this.addOther(wire, outs, i, agree, departure);
      return -1;
    }
    this.packets[id]!++;
    this.bytes[id]! += wire;
    for (let k = 0; k < e; k++) if (outs[k]![i * OUT_WORDS] === VERDICT_ALLOW) this.allowed[id * e + k]!++;
    if (!agree) this.disagreements[id]!++;
    if (departure !== 0) {
      let d = this.departures.get(id);
      if (d === undefined) this.departures.set(id, (d = new Map()));
      d.set(departure, (d.get(departure) ?? 0) + 1);
    }
    return this.count !== before ? id : -1;
  }

  /** Flow `id`'s reason id (its first packet's), in the slot's list. */
  setReason(id: number, reason: number): void {
    this.reasons[id] = reason;
  }

  /** The packets of a connection beyond the limit. */
  private addOther(wire: number, outs: readonly Uint32Array[], i: number, agree: boolean, departure: number): void {
    const o = (this.others ??= { packets: 0, bytes: 0, disagreements: 0, allowed: new Array<number>(this.engines).fill(0), departures: new Map() });
    o.packets++;
    o.bytes += wire;
    for (let k = 0; k < this.engines; k++) if (outs[k]![i * OUT_WORDS] === VERDICT_ALLOW) o.allowed[k]!++;
    if (!agree) o.disagreements++;
    if (departure !== 0) o.departures.set(departure, (o.departures.get(departure) ?? 0) + 1);
  }

  /**
   * Every flow's counters, handed over: the arrays themselves, not copies (after the last batch
   * every copy is a serial share of the replay, and fresh memory is slow to touch). The
   * accumulator then starts again, empty, in new arrays of the same size, with the same limit:
   * nothing it does later writes to what it gave away.
   */
  take(): FlowCounters {
    const n = this.count, e = this.engines;
    const c: FlowCounters = {
      count: n, first: this.first.subarray(0, n), verdicts: this.firstVerdicts.subarray(0, n * e), reasons: this.reasons.subarray(0, n),
      names: this.names.takeBytes(), nameEnds: this.nameEnds.subarray(0, n), groups: this.groups(), packets: this.packets.subarray(0, n),
      bytes: this.bytes.subarray(0, n), disagreements: this.disagreements.subarray(0, n), allowed: this.allowed.subarray(0, n * e),
      departures: [...this.departures].map(([id, d]) => [id, codes(d)] as const),
      ...(this.others ? { others: { ...this.others, allowed: [...this.others.allowed], departures: codes(this.others.departures) } } : {}),
    };
    this.allocate(this.packets.length);
    this.clear(this.limit);
    return c;
  }

  /** Each flow's group in report order (FlowCounters.groups): ranked here, where the workers do it side by side. */
  private groups(): Uint8Array {
    const e = this.engines;
    const g = new Uint8Array(this.count);
    for (let id = 0; id < this.count; id++) {
      let denied = false;
      for (let k = 0; k < e; k++) if (this.firstVerdicts[id * e + k] !== VERDICT_ALLOW) denied = true;
      g[id] = reportGroup(this.disagreements[id]!, this.departures.has(id), denied);
    }
    return g;
  }

  /** Forgets every flow; from now on at most `limit` flows are kept. */
  clear(limit = Number.POSITIVE_INFINITY): void {
    this.limit = limit;
    this.others = undefined;
    this.slots.fill(0);
    this.departures.clear();
    this.count = 0;
    this.names.clear();
  }

  /** Writes the canonical key of packet `i` into `tmp` and returns its hash. */
  private canonicalKey(pkts: Uint8Array, words: Uint32Array, i: number): number {
    const o = i * PKT_WORDS;
    const ports = words[o + 8]!;
    const sport = LITTLE_ENDIAN ? ports & 0xffff : ports >>> 16;
    const dport = LITTLE_ENDIAN ? ports >>> 16 : ports & 0xffff;
    let cmp = 0;
    for (let k = 0; k < 4 && cmp === 0; k++) {
      const a = words[o + k]!, b = words[o + 4 + k]!;
      cmp = a < b ? -1 : a > b ? 1 : 0;
    }
    if (cmp === 0) cmp = sport < dport ? -1 : sport > dport ? 1 : 0;
    const t = this.tmp;
    const lo = cmp <= 0 ? 0 : 4, hi = 4 - lo;
    for (let k = 0; k < 4; k++) { t[k] = words[o + lo + k]!; t[4 + k] = words[o + hi + k]!; }
    t[8] = cmp <= 0 ? (sport << 16) | dport : (dport << 16) | sport;
    t[9] = pkts[i * PKT_BYTES + PKT_OFF_PROTO]!;
    return keyHash(t, 0);
  }

  private findOrInsert(h: number, pkts: Uint8Array, i: number, at: number, outs: readonly Uint32Array[]): number {
    const t = this.tmp;
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = this.slots[s]!;
      if (v === 0) {
        if (this.count >= this.limit) return -1;
        const id = this.insert(pkts, i, at, outs);
        this.slots[s] = id + 1;
        if (this.count * 2 > this.slots.length) this.rehash();
        return id;
      }
      const base = (v - 1) * KEY_WORDS;
      let k = 0;
      while (k < KEY_WORDS && this.keys[base + k] === t[k]) k++;
      if (k === KEY_WORDS) return v - 1;
    }
  }

  /** A new flow from packet `i` at place `at` of the trace: its key (in `tmp`), first verdicts, name. */
  private insert(pkts: Uint8Array, i: number, at: number, outs: readonly Uint32Array[]): number {
    if (this.count === this.packets.length) this.grow();
    const id = this.count++;
    const e = this.engines;
    this.keys.set(this.tmp, id * KEY_WORDS);
    this.first[id] = at;
    for (let k = 0; k < e; k++) {
      this.firstVerdicts[id * e + k] = outs[k]![i * OUT_WORDS]!;
      this.allowed[id * e + k] = 0;
    }
    this.reasons[id] = 0;
    this.packets[id] = 0;
    this.bytes[id] = 0;
    this.disagreements[id] = 0;
    const o = i * PKT_BYTES;
    writeFlowName(this.names, protoName(pkts[o + PKT_OFF_PROTO]!), pkts, o + PKT_OFF_SADDR, portAt(pkts, o + PKT_OFF_SPORT), o + PKT_OFF_DADDR, portAt(pkts, o + PKT_OFF_DPORT));
    this.nameEnds[id] = this.names.length - 1;
    return id;
  }

  /** Doubles the per-flow arrays. */
  private grow(): void {
    const n = this.packets.length * 2;
    this.keys = widened(this.keys, n * KEY_WORDS);
    this.first = widened(this.first, n);
    this.firstVerdicts = widened(this.firstVerdicts, n * this.engines);
    this.reasons = widened(this.reasons, n);
    this.nameEnds = widened(this.nameEnds, n);
    this.packets = widened(this.packets, n);
    this.bytes = widened(this.bytes, n);
    this.disagreements = widened(this.disagreements, n);
    this.allowed = widened(this.allowed, n * this.engines);
  }

  /** Doubles the slot table and re-places every flow (keys are kept per flow). */
  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.count; id++) {
      let s = keyHash(this.keys, id * KEY_WORDS) & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = id + 1;
    }
    this.slots = slots;
  }
}

/** Departure numbers and packets as [code, packets], in first-met order. */
function codes(d: ReadonlyMap<number, number>): [string, number][] {
  return [...d].map(([num, k]) => [departureCode(num) ?? `unknown-${num}`, k]);
}

/** A u16 in host order, as pf_pkt holds ports. */
function portAt(b: Uint8Array, at: number): number {
  return LITTLE_ENDIAN ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!;
}

/** FNV-1a over the key words, with a shift so high bits reach the low (slot) bits. */
function keyHash(key: Int32Array, off: number): number {
  let h = 0x811c9dc5 | 0;
  for (let k = 0; k < KEY_WORDS; k++) { h = Math.imul(h ^ key[off + k]!, 0x01000193); h ^= h >>> 15; }
  return h >>> 0;
}

type Counters = Int32Array | Uint32Array | Uint8Array | Float64Array;

/** A copy of `a` in a new array of the same type, `length` long. */
function widened<T extends Counters>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a as ArrayLike<number>);
  return b;
}
