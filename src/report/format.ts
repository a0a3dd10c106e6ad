/**
 * How figures and engines are written in the headline, the Markdown and the HTML report: one
 * place, so a number reads the same everywhere. Pure functions of their arguments; no locale.
 */
import type { Spread } from './schema.js';

/** Rounds to `digits` significant digits and prints without an exponent ("0.0123", "45600"). */
export function sig(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  // round first: 9.996 must become "10.0", not "10.00"
  const r = Number(x.toPrecision(digits));
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(r))));
  return r.toFixed(Math.min(decimals, 12));
}

/** An integer with thousands separators: 1234567 → "1,234,567". */
export function int(n: number): string {
  const s = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${s}` : s;
}

/** A value with a unit prefix (k, M, G) and three significant digits. */
function prefixed(x: number, unit: string): string {
  const a = Math.abs(x);
  if (a >= 1e9) return `${sig(x / 1e9)} G${unit}`;
  if (a >= 1e6) return `${sig(x / 1e6)} M${unit}`;
  if (a >= 1e3) return `${sig(x / 1e3)} k${unit}`;
  return `${sig(x)} ${unit}`;
}

export const pps = (x: number): string => prefixed(x, 'pps');

/** Nanoseconds, switching to µs, ms and s as they grow. */
export function ns(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e9) return `${sig(x / 1e9)} s`;
  if (a >= 1e6) return `${sig(x / 1e6)} ms`;
  if (a >= 1e3) return `${sig(x / 1e3)} µs`;
  return `${sig(x)} ns`;
}

export function ms(x: number): string {
  const a = Math.abs(x);
  if (a >= 1000) return `${sig(x / 1000)} s`;
  if (a < 1 && a > 0) return `${sig(x * 1000)} µs`;
  return `${sig(x)} ms`;
}

/** A count short enough for a matrix cell: 950, 50.1k, 1.2M. */
export function count(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${sig(n / 1e9)}G`;
  if (a >= 1e6) return `${sig(n / 1e6)}M`;
  if (a >= 1e4) return `${sig(n / 1e3)}k`;
  return int(n);
}

export function bytes(x: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = x;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${int(v)} B` : `${sig(v)} ${units[i]}`;
}

export function seconds(x: number): string {
  if (x < 60) return `${sig(x, 2)} s`;
  const m = Math.floor(x / 60);
  return `${m} min ${Math.round(x - m * 60)} s`;
}

/** A ratio: "41×", "3.2×", "0.87×". */
export function ratio(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 10) return `${int(x)}×`;
  return `${sig(x, 2)}×`;
}

/** A chain size as the sweep names it: 10000 → "10k", 1234 → "1,234". */
export function scale(n: number): string {
  if (n >= 1000 && n % 1000 === 0) return `${int(n / 1000)}k`;
  return int(n);
}

/** "12.3 ns (11.9–13.0)": a median and its min–max over the repeats; the unit is written once when all three share it. */
export function spread(s: Spread, unit: (x: number) => string): string {
  if (s.n <= 1 || s.min === s.max) return unit(s.median);
  const [m, lo, hi] = [unit(s.median), unit(s.min), unit(s.max)];
  const suffix = (v: string) => v.slice(v.lastIndexOf(' '));
  if (m.includes(' ') && suffix(lo) === suffix(m) && suffix(hi) === suffix(m)) {
    return `${m} (${lo.slice(0, -suffix(m).length)}–${hi.slice(0, -suffix(m).length)})`;
  }
  return `${m} (${lo}–${hi})`;
}

const ENGINE_LABELS: Readonly<Record<string, string>> = {
  iptables: 'iptables-legacy',
  nft: 'iptables-nft',
  'pfsim-read': 'pfsim reader',
};

/** The sentence with its first letter in upper case. */
export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The name a reader knows an engine by (the sweep's `iptables` is the legacy backend). */
export function engineLabel(engine: string): string {
  return ENGINE_LABELS[engine] ?? engine;
}

/** What each engine measures, for the report's glossary. */
export const ENGINE_ABOUT: Readonly<Record<string, string>> = {
  chain: 'iptables-style chains walked first-match in TypeScript (in process)',
  maps: 'VPC-CNI-style LPM map lookups in the native C classifier (in process)',
  bpf: 'the tc BPF program run per packet with BPF_PROG_TEST_RUN (kernel, no network stack)',
  tc: 'the tc BPF program attached on clsact of real veths; verdict seen at the receiver (kernel)',
  iptables: 'the compiled ruleset in iptables-legacy, FORWARD path of a private testbed (kernel)',
  nft: 'the same ruleset through iptables-nft (nf_tables), same testbed (kernel)',
  aws: 'the AWS VPC CNI agent\'s own semantics, departures from Kubernetes counted',
  libpcap: 'libpcap\'s pcap_next_ex loop: the capture-reading baseline',
  'pfsim-read': 'pfsim\'s native capture reader',
};
