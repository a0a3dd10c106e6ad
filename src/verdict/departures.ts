/**
 * Where the aws engine (the VPC CNI agent's own semantics) departs from Kubernetes semantics on
 * a trace, by reason code (src/engines/aws-departure.ts), in the results.json shape
 * (src/report/schema.ts Departure) the bench report draws.
 */
import type { AwsMode } from '../compile/aws.js';
import type { Plan } from '../compile/plan.js';
import { AwsEngine } from '../engines/aws.js';
import { OUT_WORDS } from '../engines/engine.js';
import { PKT_BYTES, readPacket } from '../engines/packet.js';
import { formatIp } from '../net/ip.js';
import type { Departure } from '../report/schema.js';
import type { CaptureReaderOptions } from '../capture/reader.js';
import { protoName, replayCapture } from './replay.js';
import { flowName, type ReplaySummary } from './summary.js';

/** Which workload a trace belongs to, as the bench names it. */
export interface DepartureInfo {
  readonly workload: string;
  readonly scale: number;
}

/** Packets already in pf_pkt records, optionally with the capture's fixed-offset view (two words each). */
export interface PacketSource {
  readonly pkts: Uint8Array;
  readonly count: number;
  readonly views?: Uint32Array;
}

class Tally {
  private readonly byReason = new Map<string, { packets: number; example: string }>();
  add(reason: string, flow: () => string, packets = 1): void {
    const t = this.byReason.get(reason);
    if (t) t.packets += packets;
    else this.byReason.set(reason, { packets, example: flow() });
  }
  /** most packets first, then by code */
  result(info: DepartureInfo): Departure[] {
    return [...this.byReason].sort((a, b) => b[1].packets - a[1].packets || (a[0] < b[0] ? -1 : 1))
      .map(([reason, t]) => ({ workload: info.workload, scale: info.scale, reason, packets: t.packets, example: t.example }));
  }
}

/**
 * Replays `source` (a capture file, stateful from a fresh start, or packet records) through the
 * aws engine alone and counts its departures by reason, with the first flow of each as the
 * example. `mode` overrides the plan's aws mode. Throws what the replay throws.
 */
export function departures(plan: Plan, source: string | PacketSource, info: DepartureInfo, opts: { mode?: AwsMode; reader?: CaptureReaderOptions } = {}): Departure[] {
  const tally = new Tally();
  if (typeof source === 'string') {
    const p = opts.mode === undefined || opts.mode === plan.aws?.mode ? plan : { ...plan, aws: { ...plan.aws!, mode: opts.mode } };
    replayCapture(p, source, ['aws'], {
      packet: (v) => {
        if (v.departure !== undefined) tally.add(v.departure, () => flowName(v.proto!, v.src!, v.sport!, v.dst!, v.dport!));
      },
    }, opts.reader ?? {});
    return tally.result(info);
  }
  const engine = new AwsEngine(plan, { stateful: true, ...(opts.mode ? { awsMode: opts.mode } : {}) });
  try {
    const out = new Uint32Array(Math.max(source.count, 1) * OUT_WORDS);
    engine.classify(source.pkts.subarray(0, source.count * PKT_BYTES), source.count, out, source.views);
    for (let i = 0; i < source.count; i++) {
      const d = engine.departure(out, i);
      if (d === undefined) continue;
      tally.add(d, () => {
        const h = readPacket(source.pkts, i);
        return flowName(protoName(h.proto), formatIp(h.src), h.sport, formatIp(h.dst), h.dport);
      });
    }
  } finally {
    engine.close();
  }
  return tally.result(info);
}

/** The departures of a replay summary that included the aws engine (per-flow counts), by reason. */
export function departuresOfSummary(s: ReplaySummary, info: DepartureInfo): Departure[] {
  const tally = new Tally();
  for (const f of s.flows) {
    for (const [reason, n] of Object.entries(f.departures ?? {})) tally.add(reason, () => f.flow, n);
  }
  const o = s.others;
  for (const [reason, n] of Object.entries(o?.departures ?? {})) tally.add(reason, () => `(a connection after the first ${o!.maxFlows})`, n);
  return tally.result(info);
}
