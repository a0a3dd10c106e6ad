/**
 * report.html in a real browser: Debian's headless Chromium (installed by scripts/setup.sh) loads
 * each report from file://, and the test checks what a reader would see — no console error, no
 * page error, no request leaving the file, every chart drawn with marks of non-zero size, and
 * screenshots (decoded here with node:zlib) that are not blank. Hostile strings must not run.
 * Skipped, saying why, only when /usr/bin/chromium is absent.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headline, loadResults, writeDiffReport, writeReport } from '../src/report/index.js';
import type { Results } from '../src/report/schema.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const available = existsSync(CHROMIUM);
const title = available
  ? 'report.html in headless Chromium'
  : `report.html in headless Chromium — SKIPPED: ${CHROMIUM} is absent (scripts/setup.sh installs Debian's chromium package)`;

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'report');
const load = (name: string): Results => loadResults(join(FIXTURES, name));

// ---- a PNG decoder just big enough for Chromium's screenshots (8-bit RGB/RGBA, not interlaced)

interface Image { width: number; height: number; channels: number; pixels: Buffer }

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function decodePng(png: Buffer): Image {
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length;) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8], 'bit depth').toBe(8);
      expect([2, 6], 'colour type').toContain(data[9]);
      expect(data[12], 'interlace').toBe(0);
      channels = data[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  expect(raw.length).toBe(height * (stride + 1));
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = y * (stride + 1) + 1;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels]! : 0;
      const b = y > 0 ? out[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels]! : 0;
      const v = raw[line + x]!;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
      out[y * stride + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, channels, pixels: out };
}

/** Distinct colours, and the share of pixels that differ from the most common (background) one. */
function variety(img: Image): { colours: number; inked: number } {
  const counts = new Map<number, number>();
  let n = 0;
  // big pages are sampled: every pixel of a 1200×10000 page is more than this check needs
  const step = img.width * img.height > 4e6 ? 3 : 1;
  for (let y = 0; y < img.height; y += step) {
    for (let x = 0; x < img.width; x += step) {
      const i = (y * img.width + x) * img.channels;
      const rgb = (img.pixels[i]! << 16) | (img.pixels[i + 1]! << 8) | img.pixels[i + 2]!;
      counts.set(rgb, (counts.get(rgb) ?? 0) + 1);
      n++;
    }
  }
  const background = Math.max(...counts.values());
  return { colours: counts.size, inked: (n - background) / n };
}

// ---- the reports under test

interface Case { name: string; results: Results[]; charts: number }

const cases: Case[] = [
  { name: 'full run', results: [load('full.json')], charts: 7 },
  { name: 'run without kernel engines', results: [load('no-kernel.json')], charts: 4 },
  { name: 'quick run (real)', results: [load('quick-real.json')], charts: 4 },
  { name: 'three runs compared', results: [load('full.json'), load('full-b.json'), load('quick-real.json')], charts: 9 },
];

function hostile(): Results {
  const payload = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><svg onload="window.__pwned=3">"' onmouseover="window.__pwned=4"`;
  const r = JSON.parse(JSON.stringify(load('full.json')));
  r.machine.host = payload;
  r.machine.cpu = payload;
  r.args = [payload];
  r.skipped = [{ engine: payload, reason: payload }];
  r.deniedFlows[0] = { ...r.deniedFlows[0], flow: payload, reason: payload, deniedBy: [payload] };
  r.scales[3].agreement.engines[0] = payload;
  r.scales[3].update.change = payload;
  r.departures[0] = { ...r.departures[0], reason: payload, example: payload };
  r.diff[0].changed[0].afterReason = payload;
  r.pool.trace = payload;
  return r;
}

let browser: Browser;
let dir: string;

beforeAll(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'pfsim-report-browser-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Opens a written report and records everything a clean page must not do. */
async function open(file: string): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const url = pathToFileURL(file).href;
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => { if (r.url() !== url && !r.url().startsWith('data:')) problems.push(`request left the file: ${r.url()}`); });
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems, close: () => context.close() };
}

interface Seen {
  problems: string[];
  charts: { label: string | null; width: number; height: number; marks: number; drawn: number; colours: number; inked: number }[];
  headlines: string[];
  /** the first screenful */
  screen: { colours: number; inked: number };
}

/** What a reader gets from the page: its problems, each chart's size, marks and pixels, the headlines. */
async function inspect(file: string): Promise<Seen> {
  const { page, problems, close } = await open(file);
  try {
    const boxes = await page.evaluate(() => [...document.querySelectorAll('svg.chart')].map((svg) => {
      const box = svg.getBoundingClientRect();
      const marks = [...svg.querySelectorAll('.mark')] as SVGGraphicsElement[];
      const drawn = marks.filter((m) => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length;
      return { label: svg.getAttribute('aria-label'), width: box.width, height: box.height, marks: marks.length, drawn };
    }));
    const charts: Seen['charts'] = [];
    for (let i = 0; i < boxes.length; i++) {
      const shot = boxes[i]!.width > 0 && boxes[i]!.height > 0 ? variety(decodePng(await page.locator('svg.chart').nth(i).screenshot())) : { colours: 0, inked: 0 };
      charts.push({ ...boxes[i]!, ...shot });
    }
    const headlines = (await page.locator('p.headline').allInnerTexts()).map((t) => t.replace(/^[^:]*@[^:]*:\s*/, ''));
    const screen = variety(decodePng(await page.screenshot()));
    return { problems, charts, headlines, screen };
  } finally {
    await close();
  }
}

describe.skipIf(!available)(title, () => {
  for (const c of cases) {
    it(`${c.name}: loads cleanly, every chart drawn, the screenshot is not blank`, async () => {
      const { html } = writeReport(join(dir, c.name.replace(/\W+/g, '-')), c.results);
      expect(readFileSync(html, 'utf8').split('<svg class="chart"').length - 1).toBe(c.charts);
      const seen = await inspect(html);
      expect(seen.problems).toEqual([]);
      expect(seen.charts.length).toBe(c.charts);
      for (const ch of seen.charts) {
        expect(ch.width * ch.height, `${ch.label} has no area`).toBeGreaterThan(0);
        expect(ch.marks, `${ch.label} has no marks`).toBeGreaterThan(0);
        expect(ch.drawn, `${ch.label}: marks of zero size`).toBe(ch.marks);
        expect(ch.colours, `${ch.label}: colours in its screenshot`).toBeGreaterThan(8);
        expect(ch.inked, `${ch.label}: inked share of its screenshot`).toBeGreaterThan(0.02);
      }
      expect(seen.headlines).toEqual(c.results.map(headline));
      expect(seen.screen.colours, 'distinct colours on screen').toBeGreaterThan(100);
      expect(seen.screen.inked, 'share of non-background pixels').toBeGreaterThan(0.05);
    });
  }

  it('the policy-change and aws departure sections are on the page, with a row per flipped flow and per reason', async () => {
    const full = load('full.json');
    const { html } = writeReport(join(dir, 'sections'), [full]);
    const alone = writeDiffReport(join(dir, 'diff-alone'), full.diff!).html;
    for (const [file, sections] of [[html, ['diff', 'departures']], [alone, ['diff']]] as const) {
      const { page, problems, close } = await open(file);
      try {
        const diff = page.locator('section#diff');
        await diff.scrollIntoViewIfNeeded();
        expect(await diff.locator('h2').innerText()).toBe('Flows a policy change flips');
        expect(await diff.locator('tbody tr').count()).toBe(full.diff!.reduce((n, d) => n + d.changed.length, 0));
        expect(await diff.locator('tbody tr', { hasText: 'allowed by default/demo-app-allow-client-one ingress' }).count()).toBe(full.diff![1]!.changed.length);
        const box = await diff.boundingBox();
        expect(box!.width * box!.height).toBeGreaterThan(0);
        if (sections.includes('departures')) expect(await page.locator('section#departures tbody tr').count()).toBe(full.departures!.length);
        expect(await page.locator('section').count()).toBe(file === alone ? 1 : await page.locator('nav a').count());
        expect(problems).toEqual([]);
      } finally {
        await close();
      }
    }
  });

  it('the checks catch a broken page: script error, outside request, empty chart, blank screen', async () => {
    const file = join(dir, 'broken.html');
    writeFileSync(file, '<!DOCTYPE html><html><body style="background:#fff">'
      + '<svg class="chart" width="300" height="100"><g class="mark"></g></svg>'
      + '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><script>throw new Error("boom")</script></body></html>');
    const seen = await inspect(file);
    expect(seen.problems).toContain('page error: boom');
    expect(seen.problems.some((p) => p.startsWith('request left the file: http://127.0.0.1:9/x.css'))).toBe(true);
    expect(seen.charts).toMatchObject([{ marks: 1, drawn: 0, colours: 1, inked: 0 }]);
    expect(seen.screen.colours).toBeLessThan(10);
  });

  it('hostile strings in the results file stay text: nothing runs, nothing is fetched', async () => {
    const { html } = writeReport(join(dir, 'hostile'), [hostile(), load('no-kernel.json')]);
    const { page, problems, close } = await open(html);
    try {
      await page.locator('#denied').scrollIntoViewIfNeeded();
      await page.locator('#denied td').first().hover();
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.evaluate(() => document.querySelectorAll('script, img, [onload], [onerror], [onmouseover]').length)).toBe(0);
      expect(await page.locator('body').innerText()).toContain('<script>window.__pwned=1</script>');
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });
});
