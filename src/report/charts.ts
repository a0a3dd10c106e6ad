/**
 * Chart kinds of the HTML report, as inline SVG strings: a line/point chart (log or linear axes,
 * optional min–max whiskers), a grouped bar chart and an agreement matrix. They know nothing about
 * results.json; src/report/sections.ts turns figures into their specs. Every data mark has the
 * class "mark" and a <title> tooltip with the exact figure, so the chart reads without script.
 */
import { escapeHtml } from './escape.js';
import { el, linearScale, logScale, px, text, textWidth, tip, type Scale } from './svg.js';

export interface Axis {
  readonly title: string;
  readonly log: boolean;
  /** powers the log gridlines fall on: 10 (default), or 2 for bytes */
  readonly base?: 2 | 10;
  readonly format: (v: number) => string;
}

export type Marker = 'circle' | 'square' | 'triangle' | 'diamond';

export interface Point {
  readonly x: number;
  readonly y: number;
  /** whisker ends (min and max over repeats) */
  readonly lo?: number;
  readonly hi?: number;
  readonly tip: string;
}

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  readonly marker?: Marker;
  readonly points: readonly Point[];
}

export interface LineChartSpec {
  readonly title: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly Series[];
  /** join each series' points with a line (false: points and whiskers only) */
  readonly lines: boolean;
}

export interface BarValue {
  readonly v: number;
  readonly lo?: number;
  readonly hi?: number;
  readonly tip: string;
}

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  /** one per category; undefined: not measured (drawn as "n/a") */
  readonly values: readonly (BarValue | undefined)[];
}

export interface BarChartSpec {
  readonly title: string;
  readonly categories: readonly string[];
  readonly xTitle: string;
  readonly y: Axis;
  readonly series: readonly BarSeries[];
}

export interface MatrixSpec {
  readonly title: string;
  readonly labels: readonly string[];
  /**
   * cells[i][j]: packets both judged (total), on which they agreed (same), and on which they
   * differ for a known reason (explained: one departs from Kubernetes by design; drawn amber, not red)
   */
  readonly cells: readonly (readonly MatrixCell[])[];
  readonly format: (n: number) => string;
}

export interface MatrixCell {
  readonly same: number;
  readonly total: number;
  readonly explained?: number;
}

const WIDTH = 960;
const PLOT_HEIGHT = 250;
const MARGIN = { left: 92, right: 20, top: 14, bottom: 48 } as const;
const LEGEND_ROW = 20;
const FONT = 'font-family="system-ui, sans-serif" font-size="12"';

interface Frame { x0: number; x1: number; y0: number; y1: number }

function svgRoot(title: string, height: number, body: readonly string[], width = WIDTH): string {
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${width} ${px(height)}" width="${width}" height="${px(height)}" ${FONT}>`
    + tip(title) + body.join('') + '</svg>';
}

/** Gridlines, tick labels and axis titles for a plot area. */
function axes(fr: Frame, x: Scale | undefined, y: Scale, xAxis: Axis | undefined, yAxis: Axis, xTitle?: string): string[] {
  const out: string[] = [el('rect', { x: fr.x0, y: fr.y1, width: fr.x1 - fr.x0, height: fr.y0 - fr.y1, fill: '#fff', stroke: '#bbb' })];
  for (const v of y.minorTicks()) out.push(el('line', { x1: fr.x0, x2: fr.x1, y1: y(v), y2: y(v), stroke: '#f1f1f1' }));
  for (const v of y.ticks()) {
    out.push(el('line', { x1: fr.x0, x2: fr.x1, y1: y(v), y2: y(v), stroke: '#ddd' }));
    out.push(text(fr.x0 - 6, y(v) + 4, tickLabel(yAxis.format(v)), { 'text-anchor': 'end', fill: '#444' }));
  }
  if (x && xAxis) {
    for (const v of x.minorTicks()) out.push(el('line', { x1: x(v), x2: x(v), y1: fr.y0, y2: fr.y1, stroke: '#f1f1f1' }));
    for (const v of x.ticks()) {
      out.push(el('line', { x1: x(v), x2: x(v), y1: fr.y0, y2: fr.y1, stroke: '#ddd' }));
      out.push(text(x(v), fr.y0 + 16, tickLabel(xAxis.format(v)), { 'text-anchor': 'middle', fill: '#444' }));
    }
  }
  const yMid = (fr.y0 + fr.y1) / 2;
  out.push(text(16, yMid, yAxis.title + (yAxis.log ? ' (log)' : ''), { transform: `rotate(-90 16 ${px(yMid)})`, 'text-anchor': 'middle', fill: '#222' }));
  const xt = xAxis ? xAxis.title + (xAxis.log ? ' (log)' : '') : xTitle ?? '';
  out.push(text((fr.x0 + fr.x1) / 2, fr.y0 + 36, xt, { 'text-anchor': 'middle', fill: '#222' }));
  return out;
}

/** Round tick values need no trailing zeros: "10.0 Mpps" → "10 Mpps", "1.50 KiB" → "1.5 KiB". */
export function tickLabel(s: string): string {
  return s.replace(/(\d)\.(\d*?)0+(?=\D|$)/, (_, d: string, keep: string) => (keep ? `${d}.${keep}` : d));
}

function scaleFor(axis: Axis, values: readonly number[], range: readonly [number, number]): Scale {
  return axis.log ? logScale(values, range, axis.base) : linearScale(values, range);
}

function markerPath(m: Marker, cx: number, cy: number, r: number): string {
  switch (m) {
    case 'circle': return `M${px(cx - r)},${px(cy)}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z`;
    case 'square': return `M${px(cx - r)},${px(cy - r)}h${2 * r}v${2 * r}h${-2 * r}Z`;
    case 'triangle': return `M${px(cx)},${px(cy - r * 1.2)}L${px(cx + r * 1.1)},${px(cy + r * 0.8)}L${px(cx - r * 1.1)},${px(cy + r * 0.8)}Z`;
    case 'diamond': return `M${px(cx)},${px(cy - r * 1.3)}L${px(cx + r)},${px(cy)}L${px(cx)},${px(cy + r * 1.3)}L${px(cx - r)},${px(cy)}Z`;
  }
}

interface LegendItem { name: string; color: string; dash?: string; marker?: Marker; bar?: boolean }

/** Legend rows under the plot; returns the elements and the height they take. */
function legend(items: readonly LegendItem[], top: number, width: number): { svg: string[]; height: number } {
  const out: string[] = [];
  let x = MARGIN.left, y = top + 12;
  for (const it of items) {
    const w = 34 + textWidth(it.name) + 18;
    if (x + w > width - MARGIN.right && x > MARGIN.left) { x = MARGIN.left; y += LEGEND_ROW; }
    const swatch = it.bar
      ? el('rect', { x, y: y - 9, width: 24, height: 10, fill: it.color })
      : el('line', { x1: x, x2: x + 24, y1: y - 4, y2: y - 4, stroke: it.color, 'stroke-width': 2, 'stroke-dasharray': it.dash || undefined })
        + (it.marker ? el('path', { d: markerPath(it.marker, x + 12, y - 4, 3.5), fill: it.color }) : '');
    out.push(el('g', { class: 'legend-item' }, [swatch, text(x + 30, y, it.name, { fill: '#222' })]));
    x += w;
  }
  return { svg: out, height: y - top + 8 };
}

/** Points (with optional whiskers) joined by lines, one colour and marker per series. */
export function lineChart(spec: LineChartSpec): string {
  const fr: Frame = { x0: MARGIN.left, x1: WIDTH - MARGIN.right, y0: MARGIN.top + PLOT_HEIGHT, y1: MARGIN.top };
  const pts = spec.series.flatMap((s) => s.points);
  const n = spec.series.length;
  // series sharing an x are nudged apart (points only) so their whiskers do not hide each other
  const nudge = spec.lines ? 0 : Math.min(7, 40 / n);
  const pad = 14 + (nudge * (n - 1)) / 2; // keep end points off the frame
  const x = scaleFor(spec.x, pts.map((p) => p.x), [fr.x0 + pad, fr.x1 - pad]);
  const y = scaleFor(spec.y, pts.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), [fr.y0, fr.y1]);
  const body = axes(fr, x, y, spec.x, spec.y);
  spec.series.forEach((s, i) => {
    const dx = (i - (n - 1) / 2) * nudge;
    body.push(seriesMarks(s, (v) => x(v) + dx, y, spec.lines));
  });
  const leg = legend(spec.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash, marker: s.marker ?? 'circle' })), fr.y0 + MARGIN.bottom, WIDTH);
  return svgRoot(spec.title, fr.y0 + MARGIN.bottom + leg.height, [...body, ...leg.svg]);
}

function seriesMarks(s: Series, x: (v: number) => number, y: Scale, lines: boolean): string {
  const pts = [...s.points].filter((p) => p.y > 0 || !y.log).sort((a, b) => a.x - b.x);
  const parts: string[] = [];
  if (lines && pts.length > 1) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(x(p.x))},${px(y(p.y))}`).join('');
    parts.push(el('path', { class: 'mark', d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash || undefined }));
  }
  for (const p of pts) {
    const cx = x(p.x), cy = y(p.y);
    const marks: string[] = [];
    if (p.lo !== undefined && p.hi !== undefined && p.hi > p.lo) {
      const a = y(p.lo), b = y(p.hi);
      marks.push(el('path', { d: `M${px(cx)},${px(a)}V${px(b)}M${px(cx - 4)},${px(a)}h8M${px(cx - 4)},${px(b)}h8`, stroke: s.color, 'stroke-width': 1.5, fill: 'none' }));
    }
    marks.push(el('path', { d: markerPath(s.marker ?? 'circle', cx, cy, 4), fill: s.color, stroke: '#fff', 'stroke-width': 1 }));
    parts.push(el('g', { class: 'mark' }, [tip(p.tip), ...marks]));
  }
  return el('g', { class: 'series' }, parts);
}

/** Bars grouped by category, one colour per series, min–max whiskers when given. */
export function barChart(spec: BarChartSpec): string {
  const fr: Frame = { x0: MARGIN.left, x1: WIDTH - MARGIN.right, y0: MARGIN.top + PLOT_HEIGHT, y1: MARGIN.top };
  const vals = spec.series.flatMap((s) => s.values.flatMap((v) => (v ? [v.v, v.lo ?? v.v, v.hi ?? v.v] : [])));
  // a log bar needs room under it: start the axis well below the smallest value
  const floor = spec.y.log ? [Math.min(...vals.filter((v) => v > 0)) / (spec.y.base === 2 ? 4 : 10)] : [];
  const y = scaleFor(spec.y, [...vals, ...floor], [fr.y0, fr.y1]);
  const body = axes(fr, undefined, y, undefined, spec.y, spec.xTitle);
  const groupW = (fr.x1 - fr.x0) / Math.max(1, spec.categories.length);
  const barW = Math.min(36, (groupW * 0.8) / Math.max(1, spec.series.length));
  const base = y.log ? fr.y0 : y(0);
  spec.categories.forEach((c, ci) => {
    const gx = fr.x0 + groupW * ci + (groupW - barW * spec.series.length) / 2;
    body.push(text(fr.x0 + groupW * (ci + 0.5), fr.y0 + 16, c, { 'text-anchor': 'middle', fill: '#444' }));
    spec.series.forEach((s, si) => body.push(bar(s.values[ci], s.color, gx + si * barW, barW, y, base)));
  });
  const leg = legend(spec.series.map((s) => ({ name: s.name, color: s.color, bar: true })), fr.y0 + MARGIN.bottom, WIDTH);
  return svgRoot(spec.title, fr.y0 + MARGIN.bottom + leg.height, [...body, ...leg.svg]);
}

function bar(v: BarValue | undefined, color: string, x: number, w: number, y: Scale, base: number): string {
  const cx = x + w / 2;
  if (!v || (y.log && v.v <= 0)) {
    return text(cx, base - 4, 'n/a', { 'text-anchor': 'middle', fill: '#999', 'font-size': 9 });
  }
  const top = y(v.v);
  const parts = [tip(v.tip), el('rect', { x: x + 1, y: Math.min(top, base), width: Math.max(1, w - 2), height: Math.max(1, Math.abs(base - top)), fill: color })];
  if (v.lo !== undefined && v.hi !== undefined && v.hi > v.lo) {
    const a = y(v.lo), b = y(v.hi);
    parts.push(el('path', { d: `M${px(cx)},${px(a)}V${px(b)}M${px(cx - 3)},${px(a)}h6M${px(cx - 3)},${px(b)}h6`, stroke: '#222', 'stroke-width': 1.2, fill: 'none' }));
  }
  return el('g', { class: 'mark' }, parts);
}

/** Engines × engines: green where two engines agreed on every packet, red shades where not. */
export function matrixChart(spec: MatrixSpec): string {
  const n = spec.labels.length;
  const cell = Math.max(44, Math.min(84, 480 / Math.max(1, n)));
  const longest = Math.max(...spec.labels.map((l) => textWidth(l)), 40);
  const labelW = longest + 16;
  // column labels are turned 40°: they rise by sin 40° and run right by cos 40° of their length
  const top = longest * 0.65 + 20;
  const width = Math.max(labelW + n * cell + longest * 0.77 + 10, 300);
  const body: string[] = [];
  spec.labels.forEach((l, i) => {
    body.push(text(labelW - 8, top + i * cell + cell / 2 + 4, l, { 'text-anchor': 'end', fill: '#222' }));
    const tx = labelW + i * cell + cell / 2, ty = top - 8;
    body.push(text(tx, ty, l, { transform: `rotate(-40 ${px(tx)} ${px(ty)})`, fill: '#222' }));
  });
  spec.cells.forEach((row, i) => row.forEach((c, j) => body.push(matrixCell(spec, i, j, c, labelW + j * cell, top + i * cell, cell))));
  return svgRoot(spec.title, top + n * cell + 16, body, width);
}

function matrixCell(spec: MatrixSpec, i: number, j: number, c: MatrixCell, x: number, y: number, size: number): string {
  const a = spec.labels[i]!, b = spec.labels[j]!;
  if (c.total === 0) {
    return el('g', { class: 'mark' }, [tip(`${a} and ${b} never judged the same packets`),
      el('rect', { x: x + 1, y: y + 1, width: size - 2, height: size - 2, fill: '#eee' }),
      text(x + size / 2, y + size / 2 + 4, '–', { 'text-anchor': 'middle', fill: '#888' })]);
  }
  const differ = c.total - c.same;
  const explained = Math.min(c.explained ?? 0, differ);
  // any unexplained difference is red; differences all explained by a known departure are
  // amber; the shade deepens with the share of packets that differ
  const expected = explained === differ;
  const light = px(88 - 38 * Math.min(1, Math.sqrt(differ / c.total) * 4));
  const fill = differ === 0 ? '#b7e1b0' : expected ? `hsl(40, 90%, ${light}%)` : `hsl(4, 80%, ${light}%)`;
  const why = explained === 0 ? '' : expected ? ', all departures for a known reason' : `, ${spec.format(explained)} of them departures for a known reason`;
  const words = i === j
    ? `${a}: ${spec.format(c.total)} packets judged`
    : `${a} and ${b}: same verdict on ${spec.format(c.same)} of ${spec.format(c.total)} packets${differ ? ` (${spec.format(differ)} differ${why})` : ''}`;
  const label = differ === 0 ? spec.format(c.same) : `≠${spec.format(differ)}`;
  return el('g', { class: 'mark' }, [tip(words),
    el('rect', { x: x + 1, y: y + 1, width: size - 2, height: size - 2, fill }),
    text(x + size / 2, y + size / 2 + 4, label, { 'text-anchor': 'middle', fill: differ ? (expected ? '#5a3a00' : '#600') : '#143', 'font-size': 11 })]);
}
