/**
 * What a policy costs besides per-packet time: memory (iptables-restore text of the chains
 * against the maps' keys and values) and the cost of applying one changed policy to a loaded
 * dataplane (iptables-restore --noflush, legacy and nft, against bpf map updates).
 */
import { barChart, type BarSeries } from '../charts.js';
import type { Block, Cell, Section } from '../document.js';
import * as f from '../format.js';
import type { ScalePoint, Spread } from '../schema.js';
import { engineColor, runHead, runNumeric, seriesName, shade, withRun, type Run } from './common.js';

const cluster = (p: ScalePoint) => (p.workload === 'scale' ? `${f.scale(p.scale)} rules` : p.workload);
const byScale = (a: ScalePoint, b: ScalePoint) => Number(a.workload !== 'scale') - Number(b.workload !== 'scale') || a.scale - b.scale;

export function memorySection(runs: readonly Run[]): Section | undefined {
  if (runs.every((x) => x.r.scales.length === 0)) return undefined;
  const blocks: Block[] = [{ kind: 'text', text: 'Chain bytes are the iptables-restore text of every generated chain (both families); map bytes are the LPM keys and values as the kernel maps hold them. Compile time covers both plans.' }];
  const scales = scaleCategories(runs, () => true);
  if (scales.length > 0) {
    const series: BarSeries[] = runs.flatMap((x, i) => [
      { name: seriesName(runs, i, 'chain (iptables-restore text)'), color: shade(engineColor('iptables'), i), values: scales.map((s) => memValue(x, s, 'chain')) },
      { name: seriesName(runs, i, 'maps (LPM keys + values)'), color: shade(engineColor('bpf'), i), values: scales.map((s) => memValue(x, s, 'maps')) },
    ]);
    blocks.push({ kind: 'chart', caption: 'Memory of the compiled policy by chain size (log scale).',
      svg: barChart({ title: 'Memory: chain bytes vs map bytes', categories: scales.map(f.scale), xTitle: 'rules in the chain', series,
        y: { title: 'bytes', log: true, base: 2, format: f.bytes } }) });
  }
  const rows: Cell[][] = runs.flatMap((x, i) => [...x.r.scales].sort(byScale).map((p) => withRun(runs, i, [
    cluster(p), f.int(p.chainRules), f.bytes(p.chainBytes), f.int(p.mapEntries), f.bytes(p.mapBytes),
    p.mapBytes > 0 ? f.ratio(p.chainBytes / p.mapBytes) : '–', f.spread(p.compileMs, f.ms),
  ])));
  blocks.push({ kind: 'table', head: runHead(runs, ['Cluster', 'Chain rules', 'Chain bytes', 'LPM entries', 'Map bytes', 'Chain ÷ map bytes', 'Compile time']), rows, numeric: runNumeric(runs, [1, 2, 3, 4, 5, 6]) });
  return { id: 'memory', title: 'Memory', blocks };
}

/** Scales of the generated workload over every run, ascending. */
function scaleCategories(runs: readonly Run[], keep: (p: ScalePoint) => boolean): number[] {
  const all = runs.flatMap((x) => x.r.scales.filter((p) => p.workload === 'scale' && keep(p)).map((p) => p.scale));
  return [...new Set(all)].sort((a, b) => a - b);
}

function memValue(x: Run, scale: number, kind: 'chain' | 'maps') {
  const p = x.r.scales.find((q) => q.workload === 'scale' && q.scale === scale);
  if (!p) return undefined;
  const v = kind === 'chain' ? p.chainBytes : p.mapBytes;
  const what = kind === 'chain' ? `${f.int(p.chainRules)} rules of iptables-restore text` : `${f.int(p.mapEntries)} LPM entries`;
  return { v, tip: `${f.scale(scale)} rules: ${what}, ${f.bytes(v)}` };
}

const BACKENDS = [
  { key: 'iptablesLegacyMs', name: 'iptables-legacy', engine: 'iptables' },
  { key: 'nftMs', name: 'iptables-nft', engine: 'nft' },
  { key: 'bpfMs', name: 'bpf map updates', engine: 'bpf' },
] as const;

export function updateSection(runs: readonly Run[]): Section | undefined {
  if (runs.every((x) => x.r.scales.every((p) => !p.update))) return undefined;
  const scales = scaleCategories(runs, (p) => p.update !== undefined);
  const series: BarSeries[] = runs.flatMap((x, i) => BACKENDS.map((b) => ({
    name: seriesName(runs, i, b.name),
    color: shade(engineColor(b.engine), i),
    values: scales.map((s) => {
      const p = x.r.scales.find((q) => q.workload === 'scale' && q.scale === s);
      const v: Spread | undefined = p?.update?.[b.key];
      return v ? { v: v.median, lo: v.min, hi: v.max, tip: `${b.name} at ${f.scale(s)} rules: ${f.spread(v, f.ms)}${b.engine === 'bpf' ? ` (${f.int(p!.update!.bpfOps)} map operations)` : ` (${f.int(p!.update!.chainRulesRewritten)} rules rewritten)`}` } : undefined;
    }),
  })));
  const changes = new Set(runs.flatMap((x) => x.r.scales.flatMap((p) => (p.update ? [p.update.change] : []))));
  // one change across the sweep is said once, above the table, instead of in every row
  const oneChange = changes.size === 1 ? [...changes][0]! : undefined;
  const timed = series.some((s) => s.values.some((v) => v !== undefined));
  const blocks: Block[] = [
    { kind: 'text', text: `Time to apply one changed policy to the loaded dataplane: iptables-restore --noflush of the changed chains (legacy and nft backends) against the bpf map updates and deletes of the same change. ${timed ? 'Absent bars could not run here.' : 'None of them could run here (see Engines left out); the table gives the size of the change.'}${oneChange ? ` The change: ${oneChange}.` : ''}` },
  ];
  if (timed) {
    blocks.push({ kind: 'chart', caption: 'Update cost by chain size (median, whiskers min–max; log scale).',
      svg: barChart({ title: 'Update cost', categories: scales.map(f.scale), xTitle: 'rules in the chain', series,
        y: { title: 'time to apply', log: true, format: f.ms } }) });
  }
  const rows: Cell[][] = runs.flatMap((x, i) => [...x.r.scales].sort(byScale).filter((p) => p.update).map((p) => {
    const u = p.update!;
    const cell = (s?: Spread) => (s ? f.spread(s, f.ms) : '–');
    const speedup = u.iptablesLegacyMs && u.bpfMs && u.bpfMs.median > 0 ? f.ratio(u.iptablesLegacyMs.median / u.bpfMs.median) : '–';
    return withRun(runs, i, [cluster(p), ...(oneChange ? [] : [u.change]), f.int(u.chainRulesRewritten), cell(u.iptablesLegacyMs), cell(u.nftMs), u.bpfMs ? cell(u.bpfMs) : '–', f.int(u.bpfOps), speedup]);
  }));
  const head = ['Cluster', ...(oneChange ? [] : ['Change']), 'Rules rewritten', 'iptables-legacy', 'iptables-nft', 'bpf maps', 'Map operations', 'legacy ÷ bpf'];
  blocks.push({ kind: 'table', head: runHead(runs, head), rows, numeric: runNumeric(runs, head.map((_, c) => c).slice(oneChange ? 1 : 2)) });
  return { id: 'update', title: 'Update cost', blocks };
}
