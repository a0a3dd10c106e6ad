/**
 * What every section builder shares: the runs being reported (one, or several compared side by
 * side) with their labels, the colours and line styles that tell engines and runs apart, and the
 * "run" column tables get when several runs are shown together.
 */
import type { Cell } from '../document.js';
import type { Marker } from '../charts.js';
import type { Results } from '../schema.js';

export interface Run {
  /** short, unique among the runs compared: "vm@1a2b3c4" */
  readonly label: string;
  readonly r: Results;
}

/**
 * Labels runs by host and commit ("vm@1a2b3c4"), or by the caller's names ("before", "after");
 * duplicates (the same machine and commit twice) get their position.
 */
export function labelRuns(results: readonly Results[], names?: readonly string[]): Run[] {
  const base = results.map((r, i) => (names?.[i] ? clip(names[i]!, 40) : `${clip(r.machine.host, 20)}@${clip(r.machine.commit, 14)}`));
  return results.map((r, i) => ({
    r,
    label: base.filter((b) => b === base[i]).length > 1 ? `${base[i]} (run ${i + 1})` : base[i]!,
  }));
}

function clip(s: string, n: number): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
const ENGINE_COLORS: Readonly<Record<string, string>> = {
  iptables: '#D55E00',
  nft: '#CC79A7',
  chain: '#E69F00',
  maps: '#56B4E9',
  bpf: '#009E73',
  tc: '#0072B2',
  aws: '#8C6D1F',
  libpcap: '#555555',
  'pfsim-read': '#0072B2',
};
const SPARE = ['#7F3C8D', '#11A579', '#3969AC', '#F2B701', '#E73F74'];

export function engineColor(engine: string): string {
  if (ENGINE_COLORS[engine]) return ENGINE_COLORS[engine]!;
  let h = 0;
  for (const c of engine) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return SPARE[h % SPARE.length]!;
}

const RUN_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00'];
export const runColor = (i: number): string => RUN_COLORS[i % RUN_COLORS.length]!;

const RUN_DASHES = ['', '7 4', '2 3', '10 3 2 3'];
const RUN_MARKERS: readonly Marker[] = ['circle', 'square', 'triangle', 'diamond'];
export const runDash = (i: number): string => RUN_DASHES[i % RUN_DASHES.length]!;
export const runMarker = (i: number): Marker => RUN_MARKERS[i % RUN_MARKERS.length]!;

/** The colour of run `i`'s bars for a kind drawn in `color`: later runs are lighter. */
export function shade(color: string, i: number): string {
  const mix = [0, 0.45, 0.7, 0.82][Math.min(i, 3)]!;
  const ch = (k: number) => parseInt(color.slice(1 + 2 * k, 3 + 2 * k), 16);
  const v = (k: number) => Math.round(ch(k) + (255 - ch(k)) * mix).toString(16).padStart(2, '0');
  return `#${v(0)}${v(1)}${v(2)}`;
}

/** Series names: the engine alone for one run, "engine · run" when runs are overlaid. */
export function seriesName(runs: readonly Run[], i: number, what: string): string {
  return runs.length > 1 ? `${what} · ${runs[i]!.label}` : what;
}

/** Prefixes a "Run" column when several runs share a table. */
export function withRun(runs: readonly Run[], i: number, cells: readonly Cell[]): Cell[] {
  return runs.length > 1 ? [runs[i]!.label, ...cells] : [...cells];
}

export function runHead(runs: readonly Run[], head: readonly string[]): string[] {
  return runs.length > 1 ? ['Run', ...head] : [...head];
}

/** Column indexes shifted past the "Run" column when there is one. */
export function runNumeric(runs: readonly Run[], cols: readonly number[]): number[] {
  return runs.length > 1 ? cols.map((c) => c + 1) : [...cols];
}

/** Tables of flows stop here; the rest is counted in a note. */
export const MAX_ROWS = 200;
