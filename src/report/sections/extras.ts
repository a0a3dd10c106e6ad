/** The worker pool's speed-up with worker count, and capture reading against libpcap. */
import { barChart, type BarSeries } from '../charts.js';
import type { Block, Cell, Section } from '../document.js';
import * as f from '../format.js';
import type { Spread, WorkerCpu } from '../schema.js';
import { runColor, runHead, runNumeric, withRun, type Run } from './common.js';

export function poolSection(runs: readonly Run[]): Section | undefined {
  if (runs.every((x) => !x.r.pool)) return undefined;
  const workers = [...new Set(runs.flatMap((x) => x.r.pool?.byWorkers.map((w) => w.workers) ?? []))].sort((a, b) => a - b);
  const series: BarSeries[] = runs.filter((x) => x.r.pool).map((x) => ({
    name: runs.length > 1 ? x.label : 'packets/s',
    color: runColor(runs.indexOf(x)),
    values: workers.map((n) => {
      const w = x.r.pool!.byWorkers.find((b) => b.workers === n);
      return w ? { v: w.pps.median, lo: w.pps.min, hi: w.pps.max, tip: `${n} worker${n > 1 ? 's' : ''}: ${f.spread(w.pps, f.pps)}` } : undefined;
    }),
  }));
  const blocks: Block[] = runs.filter((x) => x.r.pool).map((x) => {
    const p = x.r.pool!;
    const who = runs.length > 1 ? `${x.label}: ` : '';
    const most = f.int(Math.max(...p.byWorkers.map((w) => w.workers)));
    const walk = p.rulesWalkedPerPacket !== undefined ? ` (the chain walks ${p.rulesWalkedPerPacket.toFixed(0)} rules per packet on average)` : '';
    const bare = p.verdictsOnly ? ` Judging alone, without the per-connection summary, ${most} workers gave ${f.ratio(p.verdictsOnly.speedup)}.` : '';
    const cpu = p.verdictsOnly?.workerCpu ?? p.workerCpu;
    return { kind: 'text', text: `${who}${f.int(p.packets)} packets of ${p.trace} through ${p.engines.map(f.engineLabel).join(' + ')}${walk}, replayed as pfsim replay runs it: ${most} workers gave ${f.ratio(p.speedup)} the packets/s of one.${bare}${cpu ? workerCpuText(cpu) : ''}` };
  });
  blocks.push({ kind: 'chart', caption: 'Replay throughput by worker count (median, whiskers min–max).',
    svg: barChart({ title: 'Worker pool scaling', categories: workers.map((n) => `${n} worker${n > 1 ? 's' : ''}`), xTitle: 'workers', series,
      y: { title: 'packets/s', log: false, format: f.pps } }) });
  const rows: Cell[][] = runs.flatMap((x, i) => {
    const p = x.r.pool;
    if (!p) return [];
    const one = p.byWorkers.find((w) => w.workers === 1)?.pps.median;
    return p.byWorkers.map((w) => withRun(runs, i, [f.int(w.workers), f.spread(w.pps, f.pps), one ? f.ratio(w.pps.median / one) : '–']));
  });
  blocks.push({ kind: 'table', head: runHead(runs, ['Workers', 'Packets/s (min–max)', '× 1 worker']), rows, numeric: runNumeric(runs, [0, 1, 2]) });
  return { id: 'pool', title: 'Worker pool', blocks };
}

/**
 * What the workers' CPU time says: the cost of splitting the connections (all workers' CPU per
 * packet against one worker's) and whether the host ran the cores alike (slower over faster).
 */
function workerCpuText(cpu: readonly WorkerCpu[]): string {
  const one = cpu.find((c) => c.workers === 1);
  const most = cpu.reduce((a, c) => (c.workers > a.workers ? c : a));
  if (!one || most.workers === 1) return '';
  return ` Worker CPU time per packet judged: ${f.ns(one.nsPerPacket)} with one worker, ${f.ns(most.nsPerPacket)} in all with ${f.int(most.workers)} (${f.ratio(most.nsPerPacket / one.nsPerPacket)}: what splitting the connections cost, and any core the host slowed); the slowest of the ${f.int(most.workers)} spent ${f.ratio(most.slowestOverFastest)} the CPU time per packet of the fastest, which is 1× when the host runs the cores alike.`;
}

const CAPTURE_STAGES = [
  { key: 'libpcapPps', name: 'libpcap pcap_next_ex' },
  { key: 'readPps', name: 'pfsim read + parse' },
  { key: 'verdictPps', name: 'read + parse + maps verdict' },
] as const;

export function captureSection(runs: readonly Run[]): Section | undefined {
  if (runs.every((x) => !x.r.capture)) return undefined;
  const series: BarSeries[] = runs.filter((x) => x.r.capture).map((x) => ({
    name: runs.length > 1 ? x.label : 'packets/s',
    color: runColor(runs.indexOf(x)),
    values: CAPTURE_STAGES.map((s) => {
      const v: Spread = x.r.capture![s.key];
      return { v: v.median, lo: v.min, hi: v.max, tip: `${s.name}: ${f.spread(v, f.pps)}` };
    }),
  }));
  const blocks: Block[] = [
    { kind: 'text', text: 'Reading the same capture file: libpcap\'s read loop (the baseline), pfsim\'s native reader with its packet parser, and the whole verdict path (read, parse, stateful maps verdict).' },
    { kind: 'chart', caption: 'Capture reading: packets/s (median, whiskers min–max).',
      svg: barChart({ title: 'Capture reading vs libpcap', categories: CAPTURE_STAGES.map((s) => s.name), xTitle: '', series,
        y: { title: 'packets/s', log: false, format: f.pps } }) },
  ];
  const rows: Cell[][] = runs.flatMap((x, i) => {
    const c = x.r.capture;
    if (!c) return [];
    const base = c.libpcapPps.median;
    const vs = (s: Spread) => `${f.spread(s, f.pps)}${base > 0 ? ` · ${f.ratio(s.median / base)}` : ''}`;
    return [withRun(runs, i, [c.trace, f.int(c.packets), f.spread(c.libpcapPps, f.pps), vs(c.readPps), vs(c.verdictPps)])];
  });
  blocks.push({ kind: 'table', head: runHead(runs, ['Trace', 'Packets', 'libpcap', 'pfsim read + parse (× libpcap)', 'read + parse + verdict (× libpcap)']), rows, numeric: runNumeric(runs, [1, 2, 3, 4]) });
  return { id: 'capture', title: 'Capture reading vs libpcap', blocks };
}
