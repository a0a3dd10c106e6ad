/**
 * The few SVG primitives the charts need: scales (linear and log) with their ticks, and an element
 * writer that escapes every text and attribute. Charts are strings of inline SVG so the HTML report
 * stays one self-contained file with no script.
 */
import { escapeHtml } from './escape.js';

/** Maps a data value to a pixel coordinate. */
export interface Scale {
  (v: number): number;
  readonly domain: readonly [number, number];
  readonly range: readonly [number, number];
  readonly log: boolean;
  /** labelled tick values inside the domain */
  ticks(): number[];
  /** unlabelled grid values (log scales: 2..9 × each decade when the domain spans few decades) */
  minorTicks(): number[];
}

/**
 * A log scale. Its domain is widened to whole powers of `base` so gridlines fall on round values
 * (base 10: 1, 10, 100…; base 2 for bytes: 1 KiB, 4 KiB, 16 KiB…); a single value (or a
 * non-positive one, which a log axis cannot show) still gets a domain around it.
 */
export function logScale(values: readonly number[], range: readonly [number, number], base: 2 | 10 = 10): Scale {
  const lg = base === 10 ? Math.log10 : Math.log2;
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  // the epsilon absorbs rounding in the logarithm of an exact power, nothing a screen could show
  let lo = pos.length ? Math.floor(lg(Math.min(...pos)) + 1e-12) : 0;
  let hi = pos.length ? Math.ceil(lg(Math.max(...pos)) - 1e-12) : 1;
  // every value is the same power: put it mid-axis
  if (hi === lo) { lo -= 1; hi += 1; }
  // base 2 labels every `step`-th power (aligned: 1 KiB, 32 KiB, 1 MiB…) so an axis keeps at most nine labels
  const aligned = (k: number) => [Math.floor(lo / k) * k, Math.ceil(hi / k) * k] as const;
  const step = base === 10 ? 1 : [1, 2, 5, 10, 20, 50].find((k) => (aligned(k)[1] - aligned(k)[0]) / k <= 8) ?? 100;
  [lo, hi] = aligned(step);
  const domain: [number, number] = [base ** lo, base ** hi];
  const [r0, r1] = range;
  const at = (v: number) => r0 + ((lg(Math.max(v, domain[0] / base)) - lo) / (hi - lo)) * (r1 - r0);
  const decades = hi - lo;
  const ticks = () => {
    const out: number[] = [];
    for (let e = lo; e <= hi; e += step) {
      out.push(base ** e);
      // a decimal log axis over one or two decades needs more than its end labels
      if (base === 10 && decades <= 2 && e < hi) out.push(2 * 10 ** e, 5 * 10 ** e);
    }
    return out;
  };
  const minorTicks = () => {
    const out: number[] = [];
    if (base === 2) {
      if (step > 1) for (let e = lo; e < hi; e++) if (e % step !== 0) out.push(2 ** e);
      return out;
    }
    if (decades > 4) return [];
    for (let e = lo; e < hi; e++) for (let m = 2; m <= 9; m++) out.push(m * 10 ** e);
    return out;
  };
  return Object.assign(at, { domain, range, log: true, ticks, minorTicks });
}

/** A linear scale from 0 (or the data's minimum when negative) to a "nice" maximum. */
export function linearScale(values: readonly number[], range: readonly [number, number]): Scale {
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(0, ...finite);
  const step = niceStep(Math.max(...finite, lo + 1) - lo);
  const hi = Math.ceil(Math.max(...finite, lo + step) / step) * step;
  const domain: [number, number] = [lo, hi];
  const [r0, r1] = range;
  const at = (v: number) => r0 + ((v - lo) / (hi - lo)) * (r1 - r0);
  const ticks = () => {
    const out: number[] = [];
    for (let v = lo; v <= hi + step / 2; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  };
  return Object.assign(at, { domain, range, log: false, ticks, minorTicks: () => [] });
}

/** 1, 2 or 5 × a power of ten, giving about five steps over `span`. */
function niceStep(span: number): number {
  const raw = span / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Coordinates are written with at most two decimals: enough for a screen, short in the file. */
export function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

type Attr = string | number | undefined;

/**
 * One SVG element. Attribute values and `text` are escaped; `children` are already-built elements.
 * Undefined attributes are left out.
 */
export function el(tag: string, attrs: Readonly<Record<string, Attr>>, children: string | readonly string[] = ''): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeHtml(typeof v === 'number' ? px(v) : v!)}"`)
    .join('');
  const inner = typeof children === 'string' ? children : children.join('');
  return `<${tag}${a}>${inner}</${tag}>`;
}

/** A text element whose content is escaped. */
export function text(x: number, y: number, content: string, attrs: Readonly<Record<string, Attr>> = {}): string {
  return el('text', { x, y, ...attrs }, escapeHtml(content));
}

/** A hover tooltip (SVG <title>): readable without script. */
export function tip(content: string): string {
  return el('title', {}, escapeHtml(content));
}

/** Rough width of a label in the charts' 12px sans-serif, for laying out legends without a DOM. */
export function textWidth(s: string, fontPx = 12): number {
  return s.length * fontPx * 0.6;
}
