/**
 * `pfsim watch`: a dry run of the cluster's policies on live traffic. Frames from one interface
 * are parsed in batches (every BATCH_FRAMES frames, or FLUSH_MS after the first frame of a
 * batch) and judged by stateful engines, conntrack carried across batches exactly as in
 * `pfsim replay`; each new flow whose first packet an engine denies is reported at once, and
 * a summary follows when the watch stops (--count, --duration, SIGINT/SIGTERM).
 *
 * Flows, verdicts and counts are those of `pfsim replay` (src/verdict/summary.ts FlowTable) on
 * a capture of the same frames: a flow is both directions of a 5-tuple, named after its first
 * packet, denied when an engine denies that first packet. Frames the parser cannot judge are
 * counted by skip reason: packets seen = judged + skipped.
 *
 * Error contract: as LiveSource.open for the interface and filter; an engine or parser failure
 * while watching stops the watch, closes everything and is rethrown.
 */
import type { Plan } from '../compile/plan.js';
import type { EngineName } from '../engines/engine.js';
import { type CaptureBatch, META_NSEC, META_SEC_HI, META_SEC_LO, META_WORDS } from '../capture/reader.js';
import { type PacketVerdict, Replayer } from '../verdict/replay.js';
import { type FlowSummary, FlowTable, type ReplaySummary } from '../verdict/summary.js';
import { LiveFrameParser } from './parse.js';
import { DECODED_LINKTYPES, LiveSource, linkTypeName } from './source.js';
import { StopController, type StopReason, describeStop } from './stop.js';

/** frames judged per engine call at most */
export const BATCH_FRAMES = 256;
/** the longest a frame waits for its batch to fill before it is judged */
export const FLUSH_MS = 50;
export const DEFAULT_TOP = 10;

export interface WatchOptions {
  readonly iface: string;
  readonly engines: readonly EngineName[];
  readonly filter?: string;
  readonly count?: number;
  readonly seconds?: number;
  readonly json: boolean;
  /** denied flows listed in the summary, most packets first */
  readonly top?: number;
  readonly bufferKiB?: number;
  /** report output; default standard output */
  readonly out?: (text: string) => void;
  /** progress lines (listening on ...); default standard error */
  readonly log?: (line: string) => void;
}

/** A new flow an engine denies, as reported the moment its first packet is judged. */
export interface DenyEvent {
  readonly type: 'deny';
  /** the packet's capture time, ISO 8601 UTC with nanoseconds */
  readonly time: string;
  readonly flow: string;
  readonly proto: string;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** the first engine's verdict (allow when only another engine denies) */
  readonly verdict: 'allow' | 'deny';
  readonly engines: Readonly<Record<string, 'allow' | 'deny'>>;
  readonly agree: boolean;
  readonly reason: string;
}

export interface WatchSummary {
  readonly type: 'summary';
  readonly interface: string;
  readonly linkType: number;
  readonly engines: readonly EngineName[];
  /** what stopped the watch: `count (N packets)`, `duration (S s)`, or the signal's name */
  readonly stoppedBy: string;
  readonly seconds: number;
  readonly packets: number;
  readonly judged: number;
  readonly skipped: number;
  readonly skippedBy: Readonly<Record<string, number>>;
  readonly flows: number;
  readonly allowedFlows: number;
  readonly deniedFlows: number;
  readonly disagreements: number;
  /** denied flows with the most packets first (first seen first among equals) */
  readonly topDenied: readonly FlowSummary[];
  /** frames the kernel dropped for want of buffer room (never seen, so in no other count); absent when unknown */
  readonly kernelDropped?: number;
}

const isDenied = (f: FlowSummary): boolean => Object.values(f.verdicts).includes('deny');

/** Packet verdicts into the flow table and into deny events for each new denied flow. */
class LiveJudge {
  readonly table = new FlowTable();
  private readonly parser: LiveFrameParser;
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private base = 0;
  private batch: CaptureBatch | undefined;

  constructor(
    private readonly replayer: Replayer,
    linkType: number,
    private readonly onDeny: (e: DenyEvent) => void,
    private readonly onError: (e: unknown) => void,
  ) {
    this.parser = new LiveFrameParser(linkType, BATCH_FRAMES);
  }

  frame(data: Uint8Array, ts: bigint): void {
    if (!this.parser.fits(data.length)) this.flush();
    this.parser.push(data, ts);
    if (this.parser.pending >= BATCH_FRAMES) this.flush();
    else this.timer ??= setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch (e) {
        this.onError(e);
      }
    }, FLUSH_MS);
  }

  /** Judges every frame waiting in the batch. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.parser.pending === 0) return;
    const b = this.parser.parse();
    this.batch = b;
    this.replayer.judge(b, this.base, { packet: (v, wire) => this.packet(v, wire) });
    this.base += b.count;
  }

  private packet(v: PacketVerdict, wire: number): void {
    this.table.add(v, wire);
    if (v.verdict === 'skip') return;
    // the FlowTable's notion of a flow: both directions of the 5-tuple
    const a = `${v.src}|${v.sport}`, b = `${v.dst}|${v.dport}`;
    const key = `${v.proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (!Object.values(v.engines).includes('deny')) return;
    const m = (v.index - this.base) * META_WORDS;
    const meta = this.batch!.meta;
    this.onDeny({
      type: 'deny', time: isoTime(meta[m + META_SEC_HI]! * 2 ** 32 + meta[m + META_SEC_LO]!, meta[m + META_NSEC]!),
      flow: flowLabel(v), proto: v.proto!, src: v.src!, sport: v.sport!, dst: v.dst!, dport: v.dport!,
      verdict: v.verdict, engines: v.engines, agree: v.agree, reason: v.reason,
    });
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.parser.close();
  }
}

/** Watches until a stop condition; resolves with the summary it printed. */
export async function runWatch(plan: Plan, o: WatchOptions): Promise<WatchSummary> {
  const out = o.out ?? ((text: string) => process.stdout.write(text));
  const log = o.log ?? ((line: string) => process.stderr.write(`pfsim: ${line}\n`));
  const stop = new StopController({ count: o.count, seconds: o.seconds });
  const fail = (e: unknown) => stop.stop({ kind: 'error', error: e });
  const replayer = new Replayer(plan, o.engines, BATCH_FRAMES);
  let judge: LiveJudge | undefined;
  let source: LiveSource | undefined;
  try {
    source = LiveSource.open({ op: 'watch', iface: o.iface, filter: o.filter, bufferKiB: o.bufferKiB }, (data, ts) => {
      if (!stop.frame()) return;
      try {
        judge!.frame(data, ts);
      } catch (e) {
        fail(e);
      }
    });
    judge = new LiveJudge(replayer, source.linkType, (e) => out(o.json ? JSON.stringify(e) + '\n' : renderDeny(e, o.engines)), fail);
    const started = process.hrtime.bigint();
    // armed before the line that tells a waiting script it may send traffic (or Ctrl-C)
    stop.start();
    if (!DECODED_LINKTYPES.has(source.linkType)) log(`warning: link type ${source.linkType} is not decoded: every packet will be skipped as unknown-link-type`);
    log(`watching ${o.iface}, link-type ${linkTypeName(source.linkType)}, engines ${o.engines.join(',')}`);
    const reason = await stop.done;
    source.close();
    if (reason.kind === 'error') throw reason.error;
    judge.flush();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const summary = watchSummary(judge.table.summary(), o, source, reason, seconds);
    out(o.json ? JSON.stringify(summary) + '\n' : renderWatchSummary(summary));
    return summary;
  } finally {
    stop.dispose();
    source?.close();
    judge?.close();
    replayer.close();
  }
}

function watchSummary(s: ReplaySummary & { readonly flows: readonly FlowSummary[] }, o: WatchOptions, source: LiveSource, reason: StopReason, seconds: number): WatchSummary {
  const denied = s.flows.map((f, i) => ({ f, i })).filter((x) => isDenied(x.f));
  const top = denied.sort((x, y) => y.f.packets - x.f.packets || x.i - y.i).slice(0, o.top ?? DEFAULT_TOP).map((x) => x.f);
  const dropped = source.stats()?.dropped;
  return {
    type: 'summary', interface: o.iface, linkType: source.linkType, engines: o.engines,
    stoppedBy: describeStop(reason), seconds: Math.round(seconds * 1000) / 1000,
    packets: s.packets, judged: s.judged, skipped: s.skipped, skippedBy: s.skippedBy,
    flows: s.flows.length, allowedFlows: s.flows.length - denied.length, deniedFlows: denied.length,
    disagreements: s.disagreements, topDenied: top,
    ...(dropped === undefined ? {} : { kernelDropped: dropped }),
  };
}

/** `TCP 10.0.0.1:40000 -> [fd00::1]:80`, the form FlowTable names flows in. */
function flowLabel(v: PacketVerdict): string {
  const end = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  return `${v.proto} ${end(v.src!, v.sport!)} -> ${end(v.dst!, v.dport!)}`;
}

function isoTime(sec: number, nsec: number): string {
  return new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, `.${String(nsec).padStart(9, '0')}Z`);
}

/** Local wall-clock time as tcpdump prints it: HH:MM:SS.uuuuuu. */
function clockTime(iso: string): string {
  const d = new Date(iso);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const micros = iso.slice(20, 26);
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${micros}`;
}

const engineCells = (verdicts: Readonly<Record<string, string>>, engines: readonly string[]): string =>
  engines.map((e) => `${e}=${verdicts[e]}`).join(' ');

export function renderDeny(e: DenyEvent, engines: readonly string[]): string {
  return `${clockTime(e.time)}  ${e.verdict.padEnd(5)}  ${e.flow.padEnd(50)} ${engineCells(e.engines, engines)}${e.agree ? '' : '  DISAGREE'}  ${e.reason}\n`;
}

export function renderWatchSummary(s: WatchSummary): string {
  const skipped = Object.entries(s.skippedBy).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
  const lines = [
    '',
    `watch of ${s.interface} stopped by ${s.stoppedBy} after ${s.seconds.toFixed(3)} s; ${s.kernelDropped === undefined ? 'kernel drops unknown' : `${s.kernelDropped} packets dropped by the kernel${s.kernelDropped > 0 ? ' and never seen (a larger --buffer-size may help)' : ''}`}`,
    `packets seen ${s.packets} = judged ${s.judged} + skipped ${s.skipped}${skipped ? ` (${skipped})` : ''}`,
    `flows ${s.flows}: ${s.allowedFlows} allowed, ${s.deniedFlows} denied; engines ${s.disagreements === 0 ? 'agree on every packet' : `disagree on ${s.disagreements} packets`}`,
  ];
  if (s.topDenied.length > 0) {
    lines.push(`top denied flows (${s.topDenied.length} of ${s.deniedFlows}, most packets first):`);
    const w = Math.max(...s.topDenied.map((f) => f.flow.length));
    for (const f of s.topDenied) {
      const cells = s.engines.map((e) => `${e}=${f.verdicts[e]} ${f.allowed[e]}/${f.packets}`).join(' ');
      lines.push(`  ${f.flow.padEnd(w)}  ${String(f.packets).padStart(7)} pkts ${String(f.bytes).padStart(9)} bytes  ${cells}  ${f.reason}`);
    }
  }
  return lines.join('\n') + '\n';
}
