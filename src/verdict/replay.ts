/**
 * Replays captured packets through engines in file order, conntrack state carried from packet
 * to packet. Packets the reader could not parse are never handed to an engine: they come out
 * as "skip" with their reason, and the totals always add up (in = judged + skipped).
 */
import { formatIp } from '../net/ip.js';
import type { Plan } from '../compile/plan.js';
import { createEngine } from '../engines/index.js';
import { type Engine, type EngineName, OUT_WORDS, verdictName } from '../engines/engine.js';
import { PKT_BYTES, packetBatch, readPacket } from '../engines/packet.js';
import { type CaptureBatch, type CaptureReaderOptions, type CaptureTotals, META_FIXED_INFO, META_FIXED_PORTS, META_ORIGLEN, META_SEC_LO, META_STATUS, META_WORDS, openCapture, skipReasonName } from '../capture/reader.js';

const PROTO_NAMES: Readonly<Record<number, string>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP', 1: 'ICMP', 58: 'ICMPv6' };

export function protoName(p: number): string {
  return PROTO_NAMES[p] ?? String(p);
}

export interface PacketVerdict {
  readonly index: number;
  readonly verdict: 'allow' | 'deny' | 'skip';
  readonly engines: Readonly<Record<string, 'allow' | 'deny'>>;
  readonly agree: boolean;
  readonly reason: string;
  readonly src?: string;
  readonly dst?: string;
  readonly proto?: string;
  readonly sport?: number;
  readonly dport?: number;
  /**
   * Why the aws engine's verdict departs from Kubernetes semantics (src/engines/aws-departure.ts);
   * absent when it does not, or aws was not asked. An explained departure is not a disagreement.
   */
  readonly departure?: string;
}

export interface ReplaySink {
  /** called for every packet in file order (judged or skipped) */
  packet?(v: PacketVerdict, wireBytes: number): void;
}

export interface ReplayResult {
  readonly totals: CaptureTotals;
  readonly judged: number;
  readonly disagreements: number;
}

/**
 * Whether the engines agree on a packet: every engine that implements Kubernetes semantics
 * gives one verdict. The aws engine's verdict is left out when it departs for a known reason
 * (`departure`); an 'unexplained' departure counts as a disagreement.
 */
export function verdictsAgree(verdicts: Readonly<Record<string, 'allow' | 'deny'>>, departure: string | undefined): boolean {
  let first: string | undefined;
  for (const [name, v] of Object.entries(verdicts)) {
    if (name === 'aws' && departure !== undefined && departure !== 'unexplained') continue;
    if (first === undefined) first = v;
    else if (v !== first) return false;
  }
  return true;
}

/** How the engines of a replay track connections. */
export interface ReplayerOptions {
  /** conntrack entries at most (EngineOptions.ctMax, `--ct-max`) */
  readonly ctMax?: number;
}

/** The engines of one replay, loaded once from the plan, stateful. */
export class Replayer {
  readonly engines: Engine[];
  private readonly ok: Uint8Array;
  private readonly outs: Uint32Array[];
  private readonly map: Int32Array;
  /** the fixed-offset view of each compacted packet (two meta words), for the aws engine */
  private readonly views: Uint32Array;
  /** the trace second of each compacted packet (META_SEC_LO), for conntrack aging */
  private readonly times: Uint32Array;

  constructor(plan: Plan, names: readonly EngineName[], batch: number, opts: ReplayerOptions = {}) {
    this.engines = [];
    try {
      const engineOpts = { stateful: true, ...(opts.ctMax === undefined ? {} : { ctMax: opts.ctMax }) };
      for (const n of names) this.engines.push(createEngine(n, plan, engineOpts));
    } catch (e) {
      // a kernel engine built before the failing one owns a testbed: release it
      this.close();
      throw e;
    }
    this.ok = packetBatch(batch);
    this.outs = names.map(() => new Uint32Array(batch * OUT_WORDS));
    this.map = new Int32Array(batch);
    this.views = new Uint32Array(batch * 2);
    this.times = new Uint32Array(batch);
  }

  /** Judges one reader batch; calls `sink.packet` for each packet in order. Returns disagreements. */
  judge(b: CaptureBatch, base: number, sink: ReplaySink): number {
    // compact the packets that parsed into one contiguous batch for the engines
    let n = 0;
    for (let i = 0; i < b.count; i++) {
      if (b.meta[i * META_WORDS + META_STATUS] !== 0) { this.map[i] = -1; continue; }
      this.ok.set(b.pkts.subarray(i * PKT_BYTES, (i + 1) * PKT_BYTES), n * PKT_BYTES);
      this.views[2 * n] = b.meta[i * META_WORDS + META_FIXED_PORTS]!;
      this.views[2 * n + 1] = b.meta[i * META_WORDS + META_FIXED_INFO]!;
      this.times[n] = b.meta[i * META_WORDS + META_SEC_LO]!;
      this.map[i] = n++;
    }
    this.classifyCompact(this.ok, n, this.views, this.times);
    let disagree = 0;
    for (let i = 0; i < b.count; i++) {
      const j = this.map[i]!;
      const wire = b.meta[i * META_WORDS + META_ORIGLEN]!;
      if (j < 0) {
        sink.packet?.({ index: base + i, verdict: 'skip', engines: {}, agree: true, reason: skipReasonName(b.meta[i * META_WORDS + META_STATUS]!) }, wire);
        continue;
      }
      const engines: Record<string, 'allow' | 'deny'> = {};
      this.engines.forEach((e, k) => { engines[e.name] = verdictName(this.outs[k]![j * OUT_WORDS]!); });
      const verdict = engines[this.engines[0]!.name]!;
      const departure = this.departure(j);
      const agree = verdictsAgree(engines, departure);
      if (!agree) disagree++;
      if (sink.packet) {
        const h = readPacket(this.ok, j);
        sink.packet({
          index: base + i, verdict, engines, agree, reason: this.engines[0]!.describe(this.ok, this.outs[0]!, j),
          src: formatIp(h.src), dst: formatIp(h.dst), proto: protoName(h.proto), sport: h.sport, dport: h.dport,
          ...(departure !== undefined ? { departure } : {}),
        }, wire);
      }
    }
    return disagree;
  }

  /** the aws engine's departure code for compacted packet j, if it departs */
  private departure(j: number): string | undefined {
    for (let k = 0; k < this.engines.length; k++) {
      const d = this.engines[k]!.departure?.(this.outs[k]!, j);
      if (d !== undefined) return d;
    }
    return undefined;
  }

  /**
   * Classifies `count` (at most the batch size) already compacted pf_pkt records with every
   * engine, in order; returns the verdict arrays, one per engine in `engines` order, valid
   * until the next call. `views` (two words per packet) is the capture's fixed-offset view;
   * `times` each packet's trace second (META_SEC_LO), by which conntrack ages (absent: it
   * does not).
   */
  classifyCompact(pkts: Uint8Array, count: number, views?: Uint32Array, times?: Uint32Array): readonly Uint32Array[] {
    for (let k = 0; k < this.engines.length; k++) this.engines[k]!.classify(pkts, count, this.outs[k]!, views, times);
    return this.outs;
  }

  /** Forgets every tracked connection, so the next packet starts a fresh replay. */
  resetState(): void {
    for (const e of this.engines) e.resetState();
  }

  /** Closes every engine, even when one fails to close; throws the first failure. */
  close(): void {
    let first: unknown;
    for (const e of this.engines.splice(0)) {
      try {
        e.close();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}

/** Replays a capture file through the named engines; `readerOpts.keepGoing` counts a file error as a skip. */
export function replayCapture(plan: Plan, file: string, names: readonly EngineName[], sink: ReplaySink, readerOpts: CaptureReaderOptions = {},
  replayerOpts: ReplayerOptions = {}): ReplayResult {
  const reader = openCapture(file, readerOpts);
  const batch = 4096;
  const r = new Replayer(plan, names, batch, replayerOpts);
  let base = 0, disagreements = 0;
  try {
    for (const b of reader) {
      disagreements += r.judge(b, base, sink);
      base += b.count;
    }
    const totals = reader.totals();
    return { totals, judged: totals.ok, disagreements };
  } finally {
    try {
      r.close();
    } finally {
      reader.close();
    }
  }
}
