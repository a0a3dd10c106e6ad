/**
 * What one pool slot does with its packets: from each shared reader batch (ring.ts) it takes
 * the packets at its own run of positions (the reader sorted them by slot: shareOut in
 * flow-hash.ts), compacts them into its own slot batch, and the
 * engines of a Replayer (loaded once from the plan, stateful) judge them in order; every
 * packet's verdict codes, aws departure and reason id (per-packet mode) go back into the
 * reader batch at the packet's own position, so the main thread can give per-packet output in
 * trace order. Per-connection counters accumulate in a FlowAccumulator, each flow with its
 * first packet's place in the trace, verdicts and reason id; they leave at the end. Runs inside
 * a pool worker, or on the main thread when there is a single slot.
 */
import type { Plan } from '../compile/plan.js';
import type { EngineName } from '../engines/engine.js';
import { OUT_WORDS } from '../engines/engine.js';
import { departureCode, departureNumber } from '../engines/aws-departure.js';
import { Replayer, type ReplayerOptions } from '../verdict/replay.js';
import { META_FIXED_INFO, META_FIXED_PORTS, META_ORIGLEN, META_SEC_LO, META_WORDS } from '../capture/reader.js';
import { SlotBatch } from './batch.js';
import { PKT_WORDS } from './flow-hash.js';
import type { RingBatch } from './ring.js';
import { FlowAccumulator, type FlowCounters } from './flows.js';

/** What a replay wants from its slots. */
export interface JudgeMode {
  /** per-connection counters (replay summaries) */
  readonly flows: boolean;
  /** per-packet reasons written back into each batch (verdict --pcap) */
  readonly perPacket: boolean;
  /** flows mode: connections counted one by one, the slot's first ones (default: no limit) */
  readonly maxFlows?: number;
}

export interface BatchOutcome {
  /** packets of the batch on which the engines disagreed */
  readonly disagreements: number;
  /**
   * Reason texts first used in this batch; their ids continue the slot's list, in order, so
   * the main thread can keep the same list by appending them batch after batch.
   */
  readonly newReasons: readonly string[];
}

export class SlotJudge {
  readonly engineNames: readonly EngineName[];
  private readonly replayer: Replayer;
  private readonly flows: FlowAccumulator;
  private readonly reasonIds = new Map<string, number>();
  private mode: JudgeMode = { flows: true, perPacket: false };
  /** index of the aws engine, -1 without: its departures are explained differences, not disagreements */
  private readonly aws: number;
  /** packets this slot judged since start() */
  private judgedSinceStart = 0;
  /** this slot's packets of the reader batch being judged */
  private readonly share: SlotBatch;
  /** the trace's place of the first packet of the reader batch being judged */
  private base = 0;

  /** Loads every engine from the plan; throws (with nothing left open) if one cannot load. */
  constructor(plan: Plan, engines: readonly EngineName[], capacity: number, opts: ReplayerOptions = {}) {
    this.engineNames = engines;
    this.replayer = new Replayer(plan, engines, capacity, opts);
    this.flows = new FlowAccumulator(engines.length);
    this.aws = engines.indexOf('aws');
    this.share = SlotBatch.create(capacity, engines.length);
  }

  /** Starts a replay: forgets connections, flows and reasons. */
  start(mode: JudgeMode): void {
    this.replayer.resetState();
    this.flows.clear(mode.maxFlows);
    this.reasonIds.clear();
    this.mode = mode;
    this.judgedSinceStart = 0;
  }

  /** Packets this slot has judged since start(). */
  get judged(): number {
    return this.judgedSinceStart;
  }

  /**
   * Judges this slot's packets among the first `count` of reader batch `r` (slot `slot` of
   * `slots`), whose first packet is packet `base` of the trace, and writes their verdicts,
   * departures and reason ids into `r` at each packet's position.
   */
  judgeShare(r: RingBatch, count: number, slot: number, slots: number, base: number): BatchOutcome {
    if (count > this.share.capacity) throw new RangeError(`reader batch of ${count} packets, slot batch of ${this.share.capacity}`);
    const b = this.share;
    if (r.starts.length !== slots + 1 || r.starts[slots]! > count) throw new RangeError(`reader batch shared out among ${r.starts.length - 1} slots (${r.starts[r.starts.length - 1]} packets), judged as slot ${slot} of ${slots} with ${count}`);
    const n = this.gather(r, slot);
    this.judgedSinceStart += n;
    this.base = base;
    const outcome = this.judge(b, n);
    this.scatter(r, n);
    return outcome;
  }

  /** Writes the verdicts, departures and reason ids of the slot batch's `n` packets back into `r` (shareOut wrote their owner). */
  private scatter(r: RingBatch, n: number): void {
    const b = this.share;
    const e = this.engineNames.length;
    for (let j = 0; j < n; j++) {
      const i = b.offsets[j]!;
      for (let k = 0; k < e; k++) r.verdicts[i * e + k] = b.verdicts[j * e + k]!;
      r.departs[i] = b.departs[j]!;
      r.reasons[i] = b.reasons[j]!;
    }
  }

  /** Copies this slot's packets of `r` (its run of r.order) into the slot batch; returns how many. */
  private gather(r: RingBatch, slot: number): number {
    const b = this.share, to = b.words, from = r.words, meta = r.meta, order = r.order;
    const first = r.starts[slot]!, n = r.starts[slot + 1]! - first;
    for (let c = 0; c < n; c++) {
      const i = order[first + c]!;
      const m = i * META_WORDS;
      // ten word moves: cheaper than a subarray object per packet
      const src = i * PKT_WORDS, dst = c * PKT_WORDS;
      for (let k = 0; k < PKT_WORDS; k++) to[dst + k] = from[src + k]!;
      b.offsets[c] = i;
      b.wire[c] = meta[m + META_ORIGLEN]!;
      b.views[2 * c] = meta[m + META_FIXED_PORTS]!;
      b.views[2 * c + 1] = meta[m + META_FIXED_INFO]!;
      b.times[c] = meta[m + META_SEC_LO]!;
    }
    return n;
  }

  /** Judges the first `count` packets of `b`. */
  private judge(b: SlotBatch, count: number): BatchOutcome {
    const outs = this.replayer.classifyCompact(b.pkts, count, b.views, b.times);
    const newReasons: string[] = [];
    const disagreements = this.account(b, count, outs, newReasons);
    return { disagreements, newReasons };
  }

  /**
   * Per packet of `b`: agreement, verdict codes and departure into `b`, flow counters, reason
   * id where it is read (every packet's in per-packet mode, a new flow's); returns the packets
   * the engines disagreed on. (The loop has a function
   * of its own with nothing after it: V8 compiles a long loop on stack replacement, and code
   * after the loop that has not run yet then deoptimises it at every batch.)
   */
  private account(b: SlotBatch, count: number, outs: readonly Uint32Array[], newReasons: string[]): number {
    const first = this.replayer.engines[0]!;
    const engines = outs.length;
    const { flows, perPacket } = this.mode;
    let disagreements = 0;
    for (let i = 0; i < count; i++) {
      const dep = this.departure(outs, i);
      // an aws verdict that departs for a known reason is left out, as verdictsAgree() does
      const skip = dep !== 0 && departureCode(dep) !== 'unexplained' ? this.aws : -1;
      let v0 = -1, agree = true;
      for (let k = 0; k < engines; k++) {
        if (k === skip) continue;
        const v = outs[k]![i * OUT_WORDS]!;
        if (v0 < 0) v0 = v; else if (v !== v0) agree = false;
      }
      if (!agree) disagreements++;
      b.departs[i] = dep;
      for (let k = 0; k < engines; k++) b.verdicts[i * engines + k] = outs[k]![i * OUT_WORDS]!;
      const opened = flows ? this.flows.add(b.pkts, b.words, i, this.base + b.offsets[i]!, b.wire[i]!, outs, agree, dep) : -1;
      // describing is the costly part: only where someone reads it
      if (!perPacket && opened < 0) continue;
      const reason = this.reasonId(first.describe(b.pkts, outs[0]!, i), newReasons);
      b.reasons[i] = reason;
      if (opened >= 0) this.flows.setReason(opened, reason);
    }
    return disagreements;
  }

  /**
   * Every flow's counters, by flow id (first-seen order), handed over: the slot counts no flow
   * after this until its next start().
   */
  takeFlows(): FlowCounters {
    return this.flows.take();
  }

  /** Closes every engine (kernel engines remove their testbeds); throws the first failure. */
  close(): void {
    this.replayer.close();
  }

  /** The aws engine's departure number for packet i (0: none, or no aws engine). */
  private departure(outs: readonly Uint32Array[], i: number): number {
    if (this.aws < 0) return 0;
    const d = this.replayer.engines[this.aws]!.departure?.(outs[this.aws]!, i);
    return d === undefined ? 0 : departureNumber(d as Parameters<typeof departureNumber>[0]);
  }

  private reasonId(reason: string, newReasons: string[]): number {
    let id = this.reasonIds.get(reason);
    if (id === undefined) {
      id = this.reasonIds.size;
      this.reasonIds.set(reason, id);
      newReasons.push(reason);
    }
    return id;
  }
}
