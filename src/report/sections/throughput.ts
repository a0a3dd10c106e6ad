/**
 * Throughput: packets/s against chain size on log-log axes (one line per engine, runs overlaid),
 * time per packet with its min–max over the repeats, and the tables behind both. Every figure has
 * its same-run baseline as a ratio; in a comparison, each run's figure also has its ratio to the
 * first run.
 */
import { lineChart, type Series } from '../charts.js';
import type { Block, Cell, Section, Table } from '../document.js';
import * as f from '../format.js';
import { baselineEngine, byEngineOrder, enginesOf, trialAt } from '../figures.js';
import type { Trial } from '../schema.js';
import { engineColor, runDash, runMarker, seriesName, type Run } from './common.js';

export function throughputSection(runs: readonly Run[]): Section | undefined {
  const scale = runs.map((x) => x.r.trials.filter((t) => t.workload === 'scale'));
  const other = runs.map((x) => x.r.trials.filter((t) => t.workload !== 'scale'));
  if (scale.every((t) => t.length === 0) && other.every((t) => t.length === 0)) return undefined;
  const blocks: Block[] = [];
  if (scale.some((t) => t.length > 0)) {
    blocks.push({ kind: 'text', text: 'Each engine judged the same trace at every chain size (generated clusters: a dual-stack server pod whose ingress policy holds ipBlock rules). Rules are the iptables rules the cluster compiles to; the map engines hold the same policy as LPM entries. Figures are medians over the repeats; whiskers and ranges are min–max.' });
    blocks.push(throughputChart(runs, scale), nsChart(runs, scale));
    if (runs.length > 1) blocks.push(compareTable(runs, scale, 'scale'));
    else blocks.push(pivotTable(scale[0]!), { ...singleTable(scale[0]!, true), folded: 'Every trial: time per packet with its range, rules walked, time per rule' });
  }
  for (const workload of [...new Set(other.flat().map((t) => t.workload))].sort()) {
    const here = other.map((ts) => ts.filter((t) => t.workload === workload));
    const rules = [...new Set(here.flat().map((t) => f.int(t.scale)))].join(' / ');
    blocks.push({ kind: 'text', text: `The ${workload} workload (${rules} chain rules; its own captures, judged packet by packet):` });
    blocks.push(runs.length > 1 ? compareTable(runs, here, workload) : singleTable(here[0]!, false));
  }
  return { id: 'throughput', title: 'Throughput and time per packet', blocks };
}

function throughputChart(runs: readonly Run[], trials: readonly Trial[][]): Block {
  const series: Series[] = runs.flatMap((_, i) => enginesOf(trials[i]!).map((e) => ({
    name: seriesName(runs, i, f.engineLabel(e)),
    color: engineColor(e),
    dash: runDash(i),
    marker: runMarker(i),
    points: trials[i]!.filter((t) => t.engine === e).map((t) => ({ x: t.scale, y: t.pps, tip: pointTip(runs, i, t) })),
  })));
  return {
    kind: 'chart',
    caption: 'Packets per second against chain size, log-log, one line per engine: a cost that grows with the rule count slopes down.',
    svg: lineChart({ title: 'Throughput vs rule count', lines: true, series,
      x: { title: 'rules in the chain', log: true, format: f.scale },
      y: { title: 'packets/s', log: true, format: f.pps } }),
  };
}

function nsChart(runs: readonly Run[], trials: readonly Trial[][]): Block {
  const series: Series[] = runs.flatMap((_, i) => enginesOf(trials[i]!).map((e) => ({
    name: seriesName(runs, i, f.engineLabel(e)),
    color: engineColor(e),
    marker: runMarker(i),
    points: trials[i]!.filter((t) => t.engine === e).map((t) => ({
      x: t.scale, y: t.nsPerPacket.median, lo: t.nsPerPacket.min, hi: t.nsPerPacket.max, tip: pointTip(runs, i, t),
    })),
  })));
  return {
    kind: 'chart',
    caption: 'Time per packet (median, whiskers min–max over the repeats) by chain size, log-log.',
    svg: lineChart({ title: 'Time per packet', lines: false, series,
      x: { title: 'rules in the chain', log: true, format: f.scale },
      y: { title: 'time per packet', log: true, format: f.ns } }),
  };
}

function pointTip(runs: readonly Run[], i: number, t: Trial): string {
  const who = runs.length > 1 ? ` (${runs[i]!.label})` : '';
  return `${f.engineLabel(t.engine)} at ${f.scale(t.scale)} rules${who}: ${f.pps(t.pps)}, ${f.spread(t.nsPerPacket, f.ns)} per packet over ${t.nsPerPacket.n} repeats of ${f.int(t.packets)} packets`;
}

/** One run, compact: an engine per row, a chain size per column, packets/s and the same-run ratio. */
function pivotTable(trials: readonly Trial[]): Block {
  const base = baselineEngine(trials);
  const scales = [...new Set(trials.map((t) => t.scale))].sort((a, b) => a - b);
  const rows = enginesOf(trials).map((e) => [f.engineLabel(e), ...scales.map((s) => {
    const t = trials.find((x) => x.engine === e && x.scale === s);
    const b = trials.find((x) => x.engine === base && x.scale === s);
    if (!t) return '–';
    return b && e !== base ? `${f.pps(t.pps)} (${f.ratio(t.pps / b.pps)})` : f.pps(t.pps);
  })]);
  const head = [base ? `Packets/s (× ${f.engineLabel(base)})` : 'Packets/s', ...scales.map((s) => `${f.scale(s)} rules`)];
  return { kind: 'table', head, rows, numeric: scales.map((_, i) => i + 1) };
}

/** One run: a row per scale × engine, with the same-run baseline ratio. */
function singleTable(trials: readonly Trial[], showRules: boolean): Table {
  const base = baselineEngine(trials);
  const rows = [...trials].sort((a, b) => a.scale - b.scale || byEngineOrder(a.engine, b.engine)).map((t) => {
    const b = base ? trials.find((x) => x.engine === base && x.scale === t.scale && x.workload === t.workload) : undefined;
    const cells: Cell[] = [
      f.engineLabel(t.engine),
      ...(showRules ? [f.scale(t.scale)] : []),
      f.pps(t.pps),
      f.spread(t.nsPerPacket, f.ns),
      t.rulesWalkedPerPacket !== undefined ? (t.rulesWalkedPerPacket >= 1000 ? f.int(t.rulesWalkedPerPacket) : f.sig(t.rulesWalkedPerPacket)) : '',
      nsPerRule(t),
      b ? f.ratio(t.pps / b.pps) : '',
    ];
    return cells;
  });
  const head = ['Engine', ...(showRules ? ['Rules'] : []), 'Packets/s', 'Time per packet (min–max)', 'Rules walked/packet', 'Time per rule walked', base ? `× ${f.engineLabel(base)}` : '×'];
  return { kind: 'table', head, rows, numeric: head.map((_, i) => i).slice(1) };
}

/** Kernel engines' per-rule cost is measured above their smallest-scale cost; noise can make it ≤ 0. */
function nsPerRule(t: Trial): Cell {
  if (t.nsPerRule === undefined) return '';
  return t.nsPerRule > 0 ? f.ns(t.nsPerRule) : { text: 'below noise', tone: 'muted' };
}

/** Several runs: a row per scale × engine, a column per run with its ratio to the first run. */
function compareTable(runs: readonly Run[], trials: readonly Trial[][], workload: string): Block {
  // a generated workload is matched by scale; another (the demo) has one size per run, whatever it is
  const bySize = workload === 'scale';
  const keys = new Map<string, { engine: string; scale: number }>();
  for (const ts of trials) for (const t of ts) keys.set(bySize ? `${t.scale}/${t.engine}` : t.engine, { engine: t.engine, scale: bySize ? t.scale : 0 });
  const sorted = [...keys.values()].sort((a, b) => a.scale - b.scale || byEngineOrder(a.engine, b.engine));
  const rows = sorted.map(({ engine, scale }) => {
    const t = runs.map((x, i) => (bySize ? trialAt(x.r, engine, scale, workload) : trials[i]!.find((y) => y.engine === engine)));
    return [f.engineLabel(engine), ...(workload === 'scale' ? [f.scale(scale)] : []), ...compareCells(t.map((x) => x?.pps), f.pps)];
  });
  const head = ['Engine', ...(workload === 'scale' ? ['Rules'] : []), ...runs.map((x, i) => (i === 0 ? `${x.label} packets/s` : `${x.label} (× first)`))];
  return { kind: 'table', head, rows, numeric: head.map((_, i) => i).slice(1) };
}

/** "1.2 Mpps", then "1.5 Mpps (1.3×)" for every later run; "–" where a run has no figure. */
export function compareCells(values: readonly (number | undefined)[], fmt: (v: number) => string): string[] {
  const first = values[0];
  return values.map((v, i) => {
    if (v === undefined) return '–';
    if (i === 0 || first === undefined || first === 0) return fmt(v);
    return `${fmt(v)} (${f.ratio(v / first)})`;
  });
}
