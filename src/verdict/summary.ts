/**
 * Per-connection summary of a replay: packets of both directions of a 5-tuple form one flow,
 * named after its first packet (the initiator). A flow's verdict per engine is the verdict of
 * its first packet; allowed-packet counts show what conntrack let through afterwards.
 */
import type { PacketVerdict } from './replay.js';

export interface FlowSummary {
  readonly flow: string;
  packets: number;
  bytes: number;
  /** verdict of the first packet, per engine */
  readonly verdicts: Readonly<Record<string, 'allow' | 'deny'>>;
  /** packets allowed, per engine */
  readonly allowed: Record<string, number>;
  /** packets on which the engines disagreed */
  disagreements: number;
  readonly reason: string;
}

export interface ReplaySummary {
  readonly flows: FlowSummary[];
  readonly packets: number;
  readonly judged: number;
  readonly skipped: number;
  readonly skippedBy: Record<string, number>;
  readonly disagreements: number;
}

export class FlowTable {
  private readonly flows = new Map<string, FlowSummary>();
  packets = 0;
  judged = 0;
  skipped = 0;
  disagreements = 0;
  readonly skippedBy: Record<string, number> = {};

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
    let f = this.flows.get(key);
    if (!f) {
      const fmt = (ip: string, port: number | undefined) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
      f = {
        flow: `${v.proto} ${fmt(v.src!, v.sport)} -> ${fmt(v.dst!, v.dport)}`,
        packets: 0, bytes: 0, verdicts: { ...v.engines }, allowed: {}, disagreements: 0, reason: v.reason,
      };
      for (const e of Object.keys(v.engines)) f.allowed[e] = 0;
      this.flows.set(key, f);
    }
    f.packets++;
    f.bytes += bytes;
    if (!v.agree) f.disagreements++;
    for (const [e, x] of Object.entries(v.engines)) if (x === 'allow') f.allowed[e] = (f.allowed[e] ?? 0) + 1;
  }

  /** Flows with disagreements first, then denied, then allowed; each group in first-seen order. */
  summary(): ReplaySummary {
    const rank = (f: FlowSummary) => (f.disagreements > 0 ? 0 : Object.values(f.verdicts).includes('deny') ? 1 : 2);
    const flows = [...this.flows.values()].map((f, i) => ({ f, i })).sort((x, y) => rank(x.f) - rank(y.f) || x.i - y.i).map((x) => x.f);
    return { flows, packets: this.packets, judged: this.judged, skipped: this.skipped, skippedBy: { ...this.skippedBy }, disagreements: this.disagreements };
  }
}

export function renderSummary(s: ReplaySummary, engines: readonly string[]): string {
  const lines: string[] = [];
  const w = Math.max(20, ...s.flows.map((f) => f.flow.length));
  lines.push(`${'flow'.padEnd(w)}  ${'packets'.padStart(7)}  ${'bytes'.padStart(9)}  ${engines.map((e) => e.padEnd(12)).join('')}reason`);
  for (const f of s.flows) {
    const cells = engines.map((e) => `${f.verdicts[e]} ${f.allowed[e]}/${f.packets}`.padEnd(12)).join('');
    lines.push(`${f.flow.padEnd(w)}  ${String(f.packets).padStart(7)}  ${String(f.bytes).padStart(9)}  ${cells}${f.disagreements ? `DISAGREE on ${f.disagreements} packets; ` : ''}${f.reason}`);
  }
  const skipped = Object.entries(s.skippedBy).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push('');
  lines.push(`packets in ${s.packets} = judged ${s.judged} + skipped ${s.skipped}${skipped ? ` (${skipped})` : ''}`);
  lines.push(`flows ${s.flows.length}: ${s.flows.filter((f) => !Object.values(f.verdicts).includes('deny')).length} allowed, ${s.flows.filter((f) => Object.values(f.verdicts).includes('deny')).length} denied; engines ${s.disagreements === 0 ? 'agree on every packet' : `disagree on ${s.disagreements} packets`}`);
  return lines.join('\n') + '\n';
}
