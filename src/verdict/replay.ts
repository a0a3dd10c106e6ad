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
import { type CaptureBatch, type CaptureTotals, META_ORIGLEN, META_STATUS, META_WORDS, openCapture, skipReasonName } from '../capture/reader.js';

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

/** The engines of one replay, loaded once from the plan, stateful. */
export class Replayer {
  readonly engines: Engine[];
  private readonly ok: Uint8Array;
  private readonly outs: Uint32Array[];
  private readonly map: Int32Array;

  constructor(plan: Plan, names: readonly EngineName[], batch: number) {
    this.engines = names.map((n) => createEngine(n, plan, { stateful: true }));
    this.ok = packetBatch(batch);
    this.outs = names.map(() => new Uint32Array(batch * OUT_WORDS));
    this.map = new Int32Array(batch);
  }

  /** Judges one reader batch; calls `sink.packet` for each packet in order. Returns disagreements. */
  judge(b: CaptureBatch, base: number, sink: ReplaySink): number {
    // compact the packets that parsed into one contiguous batch for the engines
    let n = 0;
    for (let i = 0; i < b.count; i++) {
      if (b.meta[i * META_WORDS + META_STATUS] !== 0) { this.map[i] = -1; continue; }
      this.ok.set(b.pkts.subarray(i * PKT_BYTES, (i + 1) * PKT_BYTES), n * PKT_BYTES);
      this.map[i] = n++;
    }
    this.engines.forEach((e, k) => e.classify(this.ok, n, this.outs[k]!));
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
      const agree = this.engines.every((e) => engines[e.name] === verdict);
      if (!agree) disagree++;
      if (sink.packet) {
        const h = readPacket(this.ok, j);
        sink.packet({
          index: base + i, verdict, engines, agree, reason: this.engines[0]!.describe(this.ok, this.outs[0]!, j),
          src: formatIp(h.src), dst: formatIp(h.dst), proto: protoName(h.proto), sport: h.sport, dport: h.dport,
        }, wire);
      }
    }
    return disagree;
  }

  close(): void {
    for (const e of this.engines) e.close();
  }
}

/** Replays a capture file through the named engines. */
export function replayCapture(plan: Plan, file: string, names: readonly EngineName[], sink: ReplaySink): ReplayResult {
  const reader = openCapture(file);
  const batch = 4096;
  const r = new Replayer(plan, names, batch);
  let base = 0, disagreements = 0;
  try {
    for (const b of reader) {
      disagreements += r.judge(b, base, sink);
      base += b.count;
    }
    const totals = reader.totals();
    return { totals, judged: totals.ok, disagreements };
  } finally {
    r.close();
    reader.close();
  }
}
