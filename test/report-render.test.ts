/**
 * The report renderer without a browser: scales and ticks, escaping, number formats, the
 * headline sentence (its numbers recomputed here from the fixtures), report sections, hostile
 * strings, and the side-by-side comparison of runs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PfsimError } from '../src/errors.js';
import { escapeHtml, escapeMarkdown } from '../src/report/escape.js';
import * as f from '../src/report/format.js';
import { tickLabel } from '../src/report/charts.js';
import { headline, loadResults, renderDiffReport, renderReport, writeReport } from '../src/report/index.js';
import type { Results, Trial } from '../src/report/schema.js';
import { el, linearScale, logScale } from '../src/report/svg.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'report');
const load = (name: string): Results => loadResults(join(FIXTURES, name));
const full = load('full.json');
const fullB = load('full-b.json');
const noKernel = load('no-kernel.json');
const quick = load('quick-real.json');
const tmp = mkdtempSync(join(tmpdir(), 'pfsim-report-render-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A deep copy to mutate. */
const clone = (r: Results): any => JSON.parse(JSON.stringify(r));
const trial = (r: Results, engine: string, scale: number, workload = 'scale'): Trial =>
  r.trials.find((t) => t.engine === engine && t.scale === scale && t.workload === workload)!;
/** "1,098×" → 1098 */
const num = (s: string) => Number(s.replace(/,/g, ''));

describe('scales', () => {
  it('a log scale puts powers of ten at equal steps and labels each one', () => {
    const s = logScale([10, 100000], [0, 400]);
    expect(s.domain).toEqual([10, 100000]);
    [10, 100, 1000, 10000, 100000].forEach((v, i) => expect(s(v)).toBeCloseTo(i * 100, 9));
    expect(s.ticks()).toEqual([10, 100, 1000, 10000, 100000]);
  });

  it('a log scale widens a single value to whole decades around it', () => {
    const s = logScale([1000], [0, 100]);
    expect(s.domain).toEqual([100, 10000]);
    expect(s(1000)).toBeCloseTo(50);
    const t = logScale([300, 700], [0, 1]);
    expect(t.domain).toEqual([100, 1000]);
    // one decade: 2× and 5× get labels too
    expect(t.ticks()).toEqual([100, 200, 500, 1000]);
  });

  it('log scales (base 10 and 2) cover every value, keep order, and tick inside the domain', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 1e-3, max: 1e12, noNaN: true }), { minLength: 1, maxLength: 12 }),
      fc.constantFrom(2 as const, 10 as const),
      (values, base) => {
        const s = logScale(values, [0, 1000], base);
        for (const v of values) {
          expect(v).toBeGreaterThanOrEqual(s.domain[0] * (1 - 1e-12));
          expect(v).toBeLessThanOrEqual(s.domain[1] * (1 + 1e-12));
          expect(s(v)).toBeGreaterThanOrEqual(-1e-6);
          expect(s(v)).toBeLessThanOrEqual(1000 + 1e-6);
        }
        const sorted = [...values].sort((a, b) => a - b);
        for (let i = 1; i < sorted.length; i++) expect(s(sorted[i]!)).toBeGreaterThanOrEqual(s(sorted[i - 1]!) - 1e-9);
        const ticks = s.ticks();
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(base === 2 ? 9 : 16);
        for (const t of ticks) expect(t >= s.domain[0] * (1 - 1e-12) && t <= s.domain[1] * (1 + 1e-12)).toBe(true);
        if (base === 2) for (const t of ticks) expect(Number.isInteger(Math.log2(t))).toBe(true);
      },
    ));
  });

  it('a base-2 log scale for bytes labels KiB and MiB powers', () => {
    const s = logScale([1500, 3_000_000], [0, 1], 2);
    expect(s.ticks().map(f.bytes).map(tickLabel)).toEqual(['1 KiB', '4 KiB', '16 KiB', '64 KiB', '256 KiB', '1 MiB', '4 MiB']);
  });

  it('a linear scale starts at zero and steps by 1, 2 or 5 × a power of ten', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0.001, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 8 }), (values) => {
      const s = linearScale(values, [0, 100]);
      expect(s.domain[0]).toBe(0);
      expect(s.domain[1]).toBeGreaterThanOrEqual(Math.max(...values));
      const t = s.ticks();
      const step = t[1]! - t[0]!;
      const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
      expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
      expect(t.length).toBeLessThanOrEqual(11);
    }));
  });

  it('tick labels drop trailing zeros', () => {
    expect(['10.0 Mpps', '1.50 KiB', '100 kpps', '2.05 µs', '0.100 ms'].map(tickLabel)).toEqual(['10 Mpps', '1.5 KiB', '100 kpps', '2.05 µs', '0.1 ms']);
  });
});

describe('escaping', () => {
  const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

  it('HTML: no markup character survives, and the text decodes back', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const e = escapeHtml(s);
      expect(/[<>"']/.test(e)).toBe(false);
      expect(/&(?!(lt|gt|quot|#39|amp);)/.test(e)).toBe(false);
      expect(decode(e)).toBe(s);
    }));
  });

  it('SVG attributes and text are escaped', () => {
    expect(el('text', { x: 1.234, 'data-x': '"><script>' }, escapeHtml('<b>'))).toBe('<text x="1.23" data-x="&quot;&gt;&lt;script&gt;">&lt;b&gt;</text>');
  });

  it('Markdown: one line, no table pipes, links, code spans or raw HTML', () => {
    expect(escapeMarkdown('a|b\nc [x](http://e) `y` <i>*z*_w_ #1 nf_tables')).toBe('a\\|b c \\[x\\](http://e) \\`y\\` &lt;i&gt;\\*z\\*\\_w\\_ \\#1 nf_tables');
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const e = escapeMarkdown(s);
      expect(/[\n\r<>]/.test(e)).toBe(false);
      expect(/(^|[^\\])(\\\\)*\|/.test(e)).toBe(false);
    }));
  });
});

describe('number formats', () => {
  it('three significant digits, units that grow, ratios, spreads', () => {
    expect([f.sig(9.996), f.sig(0.012345), f.sig(123456)]).toEqual(['10.0', '0.0123', '123000']);
    expect(f.int(1234567)).toBe('1,234,567');
    expect([f.pps(950), f.pps(4213.7), f.pps(23_456_789)]).toEqual(['950 pps', '4.21 kpps', '23.5 Mpps']);
    expect([f.ns(40), f.ns(3170), f.ns(151_000), f.ns(2.5e6)]).toEqual(['40.0 ns', '3.17 µs', '151 µs', '2.50 ms']);
    expect([f.ms(0.0335), f.ms(43.1), f.ms(4310)]).toEqual(['33.5 µs', '43.1 ms', '4.31 s']);
    expect([f.bytes(960), f.bytes(9739), f.bytes(10_999_000)]).toEqual(['960 B', '9.51 KiB', '10.5 MiB']);
    expect([f.ratio(10051.2), f.ratio(3.17), f.ratio(0.834)]).toEqual(['10,051×', '3.2×', '0.83×']);
    expect([f.scale(10000), f.scale(100), f.scale(1234)]).toEqual(['10k', '100', '1,234']);
    expect(f.spread({ median: 151e3, min: 145e3, max: 215e3, n: 5 }, f.ns)).toBe('151 µs (145–215)');
    expect(f.spread({ median: 950, min: 900, max: 1200, n: 5 }, f.ns)).toBe('950 ns (900 ns–1.20 µs)');
    expect(f.spread({ median: 5, min: 5, max: 5, n: 1 }, f.ms)).toBe('5.00 ms');
  });
});

describe('headline', () => {
  const oneSentence = (h: string) => {
    expect(h).not.toContain('\n');
    expect(h.endsWith('.')).toBe(true);
    expect(/\.\s+[A-Z]/.test(h)).toBe(false);
  };

  it('full run: tc against iptables-legacy and iptables-nft at the largest scale, with the agreement count', () => {
    const h = headline(full);
    oneSentence(h);
    const largest = Math.max(...full.trials.filter((t) => t.workload === 'scale').map((t) => t.scale));
    expect(h).toMatch(new RegExp(`^At ${f.scale(largest)} rules the tc program handled `));
    const m = /handled ([\d.,]+)× the packets\/s of iptables-legacy and ([\d.,]+)× of iptables-nft/.exec(h)!;
    const tc = trial(full, 'tc', largest);
    expect(num(m[1]!)).toBeCloseTo(tc.pps / trial(full, 'iptables', largest).pps, 1);
    expect(num(m[2]!)).toBeCloseTo(tc.pps / trial(full, 'nft', largest).pps, 1);
    const packets = full.scales.reduce((s, p) => s + (p.agreement.engines.length > 1 ? p.agreement.packets : 0), 0);
    expect(h).toContain(`all ${f.int(packets)} packets got the same verdict from all 6 engines`);
    // aws departs by design: counted apart, not as a disagreement
    const departed = full.scales.reduce((s, p) => {
      const i = p.agreement.engines.indexOf('aws');
      return s + (p.agreement.packets - p.agreement.same[i]![0]!);
    }, 0);
    expect(h).toContain(`aws departed from the Kubernetes answer on ${f.int(departed)} of ${f.int(packets)} packets`);
  });

  it('the growth clause compares time per packet from the smallest to the largest scale', () => {
    const m = /from 10 to 100k rules the time per packet of iptables-legacy grew ([\d.,]+)×/.exec(headline(full))!;
    expect(num(m[1]!)).toBeCloseTo(trial(full, 'iptables', 100000).nsPerPacket.median / trial(full, 'iptables', 10).nsPerPacket.median, 1);
  });

  it('without kernel engines: says which did not run and why, and compares maps with chain in process', () => {
    const h = headline(noKernel);
    oneSentence(h);
    expect(h).toMatch(/^The kernel engines \(tc, bpf, iptables-legacy, iptables-nft\) did not run here \(needs root \(uid 1000\); other reasons under "Engines left out"\), so the comparison is in process: at 100k rules the native map engine handled ([\d,]+)× the packets\/s of the TypeScript chain engine/);
    const m = /handled ([\d,]+)×/.exec(h)!;
    expect(num(m[1]!) / (trial(noKernel, 'maps', 100000).pps / trial(noKernel, 'chain', 100000).pps)).toBeCloseTo(1, 3);
    expect(h).toContain('got the same verdict from both engines');
  });

  it('a quick run says so first', () => {
    const h = headline(quick);
    oneSentence(h);
    expect(h).toMatch(/^Quick run: at 10k rules the tc program handled [\d.,]+× the packets\/s of iptables-legacy/);
  });

  it('tc left out: the BPF program stands in, and the sentence says why', () => {
    const r = clone(full);
    r.trials = r.trials.filter((t: Trial) => t.engine !== 'tc');
    r.skipped = [{ engine: 'tc', reason: 'clsact qdisc not supported' }];
    const h = headline(r);
    oneSentence(h);
    expect(h).toMatch(/^Tc did not run here \(clsact qdisc not supported\); at 100k rules the BPF program \(BPF_PROG_TEST_RUN\) handled /);
  });

  it('iptables filtered out of the run (not unavailable): the in-process comparison says so, not that no kernel engine ran', () => {
    const r = clone(full);
    r.trials = r.trials.filter((t: Trial) => t.engine !== 'iptables' && t.engine !== 'nft');
    expect(headline(r)).toMatch(/^Iptables-legacy and iptables-nft were not part of this run, so the comparison is in process: /);
    r.trials = r.trials.filter((t: Trial) => t.engine !== 'tc' && t.engine !== 'bpf');
    expect(headline(r)).toMatch(/^No kernel engine was part of this run, so the comparison is in process: /);
  });

  it('only iptables-nft left out: one ratio', () => {
    const r = clone(full);
    r.trials = r.trials.filter((t: Trial) => t.engine !== 'nft');
    r.skipped = [{ engine: 'nft', reason: 'iptables-nft-restore unusable: not installed' }];
    const h = headline(r);
    expect(h).toMatch(/^Iptables-nft did not run here \(iptables-nft-restore unusable: not installed\); at 100k rules the tc program handled [\d.,]+× the packets\/s of iptables-legacy \(/);
    expect(h).not.toContain('× of iptables-nft');
  });

  it('engines that disagree are named with the count', () => {
    const r = clone(full);
    const p = r.scales.find((x: any) => x.workload === 'scale' && x.scale === 1000);
    const a = p.agreement.engines.indexOf('chain'), b = p.agreement.engines.indexOf('nft');
    p.agreement.same[a][b] -= 12;
    p.agreement.same[b][a] -= 12;
    expect(headline(r)).toContain('the engines did NOT all agree: iptables-nft and chain gave different verdicts on 12 of ');
  });

  it('nothing measured', () => {
    const r = { ...clone(full), trials: [], scales: [], diff: undefined };
    expect(headline(r)).toBe('This run measured no engine throughput; verdict agreement was not measured (fewer than two engines judged the same packets).');
  });
});

/** Every Markdown table row has as many cells as its header (no escaped pipe counts). */
function checkMarkdownTables(md: string): number {
  const cells = (line: string) => line.replace(/\\\|/g, '').split('|').length;
  let tables = 0;
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('| ') || !/^\| -+:? \|/.test(lines[i + 1] ?? '')) continue;
    tables++;
    const n = cells(lines[i]!);
    for (let j = i + 1; j < lines.length && lines[j]!.startsWith('|'); j++) expect(cells(lines[j]!), lines[j]).toBe(n);
  }
  return tables;
}

describe('report', () => {
  it('one run: every section, a chart per figure, tables in Markdown', () => {
    const { md, html } = renderReport([full]);
    for (const title of ['Engines left out', 'Throughput and time per packet', 'Verdict agreement', 'Memory', 'Update cost', 'Denied flows',
      'Departures of the aws engine from Kubernetes semantics', 'Flows a policy change flips', 'Worker pool', 'Capture reading vs libpcap', 'Run', 'About the engines']) {
      expect(md).toContain(`## ${title}\n`);
      expect(html).toContain(`<h2>${escapeHtml(title)}</h2>`);
    }
    expect(html.match(/<svg class="chart"/g)?.length).toBe(7);
    for (const svg of html.split('<svg class="chart"').slice(1)) expect(svg.split('</svg>')[0]).toContain('class="mark"');
    expect(checkMarkdownTables(md)).toBeGreaterThanOrEqual(10);
    expect(md).toContain(`> **${escapeMarkdown(headline(full))}**`);
    for (const d of full.deniedFlows) expect(md).toContain(escapeMarkdown(d.flow));
  });

  it('the HTML is self-contained: no script, no external reference, a CSP that forbids both', () => {
    const { html } = renderReport([full, fullB]);
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|<img|@import|url\(/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
    const refs = [...html.matchAll(/\b(?:href|src|xmlns)="([^"]*)"/g)].map((m) => m[1]!);
    for (const ref of refs) expect(ref === 'http://www.w3.org/2000/svg' || ref.startsWith('#') || ref === 'data:,', ref).toBe(true);
  });

  it('no kernel engines: the left-out engines with reasons, no update chart without timings', () => {
    const { md, html } = renderReport([noKernel]);
    for (const s of noKernel.skipped) expect(md).toContain(`| ${f.engineLabel(s.engine)} | ${escapeMarkdown(s.reason)} |`);
    expect(html).not.toContain('aria-label="Update cost"');
    expect(md).toContain('## Update cost');
    expect(html).not.toContain('<h2>Worker pool</h2>');
  });

  it("the pool section tells the replay with its summary from judging alone, and how heavy a packet is", () => {
    const r = clone(full) as Results & { pool: NonNullable<Results['pool']> };
    expect(renderReport([r]).md).not.toContain('Judging alone');
    const pool = { ...r.pool, rulesWalkedPerPacket: 158.4, verdictsOnly: { byWorkers: r.pool.byWorkers, speedup: 1.84 } };
    const { md } = renderReport([{ ...r, pool }]);
    expect(md).toContain('(the chain walks 158 rules per packet on average), replayed as pfsim replay runs it:');
    expect(md).toContain(`workers gave ${f.ratio(1.84)}.`);
    expect(md).not.toContain('Worker CPU time');
  });

  it("the pool section tells what splitting cost the workers' CPU and whether the cores ran alike", () => {
    const r = clone(full) as Results & { pool: NonNullable<Results['pool']> };
    const workerCpu = [{ workers: 1, nsPerPacket: 990, slowestOverFastest: 1 }, { workers: 2, nsPerPacket: 1089, slowestOverFastest: 1.78 }];
    const { md } = renderReport([{ ...r, pool: { ...r.pool, verdictsOnly: { byWorkers: r.pool.byWorkers, speedup: 1.5, workerCpu } } }]);
    expect(md).toContain(`Worker CPU time per packet judged: ${f.ns(990)} with one worker, ${f.ns(1089)} in all with 2 (${f.ratio(1.1)}: what splitting the connections cost, and any core the host slowed); the slowest of the 2 spent ${f.ratio(1.78)} the CPU time per packet of the fastest`);
  });

  it('a quick run without pool and capture leaves those sections out', () => {
    const { md } = renderReport([quick]);
    expect(md).not.toContain('## Worker pool');
    expect(md).not.toContain('## Capture reading');
    expect(md).toContain('| Quick run | yes: fewer scales and repeats, figures are rough |');
  });

  it('hostile strings from the file stay text in HTML and in Markdown', () => {
    const payload = `<script>window.__pwned=1</script><img src=x onerror=alert(1)>"' onmouseover="alert(2)" | [x](javascript:alert(3))\n# heading`;
    const r = clone(full);
    r.machine.host = payload;
    r.machine.cpu = payload;
    r.machine.commit = payload;
    r.args = [payload];
    r.skipped = [{ engine: payload, reason: payload }];
    r.deniedFlows[0] = { ...r.deniedFlows[0], workload: payload, flow: payload, reason: payload, deniedBy: [payload] };
    r.scales[3].agreement.engines[0] = payload;
    r.scales[3].update.change = payload;
    r.departures[0] = { ...r.departures[0], reason: payload, example: payload };
    r.diff[0].before = [payload];
    r.diff[1].changed[0].beforeReason = payload;
    r.pool.trace = payload;
    r.capture.trace = payload;
    r.trials[0].workload = payload;
    const { md, html } = renderReport([r, full]);
    // the payload is text: no element it opens, no attribute it adds to ours
    expect(html).not.toMatch(/<script|<img/i);
    expect(html).not.toMatch(/<[^>]*\bon(error|mouseover)=/i);
    expect(html).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(md).not.toMatch(/<script|<img|(?<!\\)\]\(javascript|\n# heading/);
    checkMarkdownTables(md);
    writeReport(join(tmp, 'hostile'), [r, full]);
  });

  it('two runs side by side: each figure and its ratio to the first run', () => {
    const { md, html } = renderReport([full, fullB]);
    expect(md).toMatch(/^# pfsim benchmark: 2 runs compared/);
    expect(md).toContain('> **bench-a@4f1c2ab**: ');
    expect(md).toContain('> **bench-b@9e07d5c**: ');
    const row = md.split('\n').find((l) => l.startsWith('| tc | 100k |'))!;
    const cells = row.split('|').map((c) => c.trim());
    const a = trial(full, 'tc', 100000).pps, b = trial(fullB, 'tc', 100000).pps;
    expect(cells[3]).toBe(f.pps(a));
    const m = /^([\d.]+) kpps \(([\d.]+)×\)$/.exec(cells[4]!)!;
    expect(Number(m[1])).toBeCloseTo(b / 1000, 1);
    expect(Number(m[2])).toBeCloseTo(b / a, 1);
    // the throughput chart overlays the runs: one legend entry per engine and run
    const chart = html.split('<svg class="chart"')[1]!.split('</svg>')[0]!;
    expect(chart.match(/class="legend-item"/g)?.length).toBe(2 * new Set(full.trials.map((t) => t.engine)).size);
    expect(chart).toContain('tc · bench-b@9e07d5c');
    // one agreement matrix per run
    expect(html).toContain('aria-label="Verdict agreement · bench-a@4f1c2ab"');
    expect(html).toContain('aria-label="Verdict agreement · bench-b@9e07d5c"');
    checkMarkdownTables(md);
  });

  it('the demo workload is compared engine by engine even when its size differs between runs', () => {
    const b = clone(fullB);
    for (const t of b.trials) if (t.workload === 'demo') t.scale = 30;
    const { md } = renderReport([full, b]);
    const demo = md.split('The demo workload (22 / 30 chain rules')[1]!.split('\n\n')[1]!.split('\n');
    const engines = new Set(full.trials.filter((t) => t.workload === 'demo').map((t) => t.engine));
    expect(demo.length).toBe(2 + engines.size);
    const tc = demo.find((l) => l.startsWith('| tc |'))!.split('|').map((c) => c.trim());
    expect(tc[2]).toBe(f.pps(trial(full, 'tc', 22, 'demo').pps));
    expect(tc[3]).toMatch(new RegExp(`^${f.pps(trial(fullB, 'tc', 22, 'demo').pps)} \\(`));
  });

  it('the same run twice gets two labels', () => {
    const { md } = renderReport([full, full]);
    expect(md).toContain('bench-a@4f1c2ab (run 1)');
    expect(md).toContain('bench-a@4f1c2ab (run 2)');
  });

  it('no runs is a usage error; writeReport creates the directory', () => {
    expect(() => renderReport([])).toThrow(PfsimError);
    const dir = join(tmp, 'a', 'b');
    const paths = writeReport(dir, [quick]);
    expect(existsSync(paths.md) && existsSync(paths.html)).toBe(true);
    expect(readFileSync(paths.html, 'utf8')).toContain(escapeHtml(headline(quick)));
  });
});

describe('aws departures in the agreement, and policy changes', () => {
  /** the matrix cell of engines a, b in the HTML chart: its tooltip and its fill */
  const cell = (html: string, a: string, b: string) => {
    const m = new RegExp(`<title>${a} and ${b}: ([^<]*)</title><rect[^>]*fill="([^"]*)"`).exec(html);
    return { words: m?.[1], fill: m?.[2] };
  };

  it('differences a known departure explains are amber and not a disagreement; any other difference of aws is', () => {
    const explainedHtml = renderReport([full]).html;
    const c = cell(explainedHtml, 'aws', 'maps');
    expect(c.words).toMatch(/ differ, all departures for a known reason\)$/);
    expect(c.fill).toMatch(/^hsl\(40,/);
    expect(headline(full)).not.toContain('did NOT all agree');
    // one packet at the 10k point that aws judges differently with no known reason
    const r = clone(full);
    const p = r.scales.find((x: any) => x.workload === 'scale' && x.scale === 10000);
    const aws = p.agreement.engines.indexOf('aws');
    for (let j = 0; j < p.agreement.engines.length; j++) {
      if (j === aws) continue;
      p.agreement.explained[aws][j] -= 1;
      p.agreement.explained[j][aws] -= 1;
    }
    const h = headline(r);
    expect(h).toMatch(/the engines did NOT all agree: .*aws.* gave different verdicts on 1 of [\d,]+ packets/);
    const { html, md } = renderReport([r]);
    const bad = cell(html, 'aws', 'maps');
    expect(bad.words).toMatch(/ differ, \d+ of them departures for a known reason\)$/);
    expect(bad.fill).toMatch(/^hsl\(4,/);
    expect(md).toMatch(/aws differs from the other 6 on 1; aws departs from Kubernetes on \d+ for known reasons/);
  });

  it('a run that did not record explained differences counts every aws difference as a departure', () => {
    const r = clone(full);
    for (const p of r.scales) delete p.agreement.explained;
    expect(headline(r)).toBe(headline(full));
    expect(cell(renderReport([r]).html, 'aws', 'maps').fill).toMatch(/^hsl\(40,/);
  });

  it('the diff section lists each change with its label, totals and the flows it flips', () => {
    const { md } = renderReport([full]);
    const section = md.split('## Flows a policy change flips\n')[1]!.split('\n## ')[0]!;
    for (const d of full.diff!) {
      const denied = d.changed.filter((c) => c.after === 'deny').length;
      expect(section).toContain(`${d.label![0]!.toUpperCase()}${d.label!.slice(1)}: ${d.changed.length} of ${d.flows} connections changed verdict, ${denied} newly denied and ${d.changed.length - denied} newly allowed.`);
      for (const c of d.changed) expect(section).toContain(`| ${escapeMarkdown(c.flow)} | ${c.packets} | ${c.before} | ${c.after} |`);
    }
    expect(checkMarkdownTables(section)).toBe(full.diff!.length);
  });

  it('a report of policy changes alone: a headline per change and the diff section, nothing else', () => {
    const { md, html } = renderDiffReport(full.diff!);
    expect(md).toMatch(/^# pfsim diff: traces\/demo-curl\.pcap\n/);
    expect(md).toContain('> **Deny-all applied to demo-app: 16 of 24 connections changed verdict, 16 newly denied and 0 newly allowed.**');
    expect(md).toContain('> **Allow-from-client-one added: 4 of 24 connections changed verdict, 0 newly denied and 4 newly allowed.**');
    expect([...html.matchAll(/<h2>([^<]*)<\/h2>/g)].map((m) => m[1])).toEqual(['Flows a policy change flips']);
    expect(() => renderDiffReport([])).toThrow(PfsimError);
  });

  it('a run of the diff step alone is headed by its changes', () => {
    const r = { ...clone(full), trials: [], scales: [] };
    expect(headline(r)).toBe('This run measured no engine throughput; it replayed 2 policy changes against a capture: deny-all applied to demo-app: 16 of 24 connections changed verdict, 16 newly denied and 0 newly allowed; allow-from-client-one added: 4 of 24 connections changed verdict, 0 newly denied and 4 newly allowed.');
  });
});
