/**
 * `npm run bench`: the benchmark table. Trials (engine × scale) are declared once below; each
 * runs in a fresh child process; one line is printed per result and everything is written to
 * results/<timestamp>-<host>/results.json with the machine, kernel, Node version and commit,
 * results/latest pointing at the newest run. Figures come with same-run ratios.
 *
 *   --only chain|maps|pcap   one kind of trial       --scale N   only trials of N filters
 *   --quick             fewer repeats (smoke run)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Trial { readonly engine: 'chain' | 'maps' | 'pcap'; readonly filters: number }

const TRIALS: readonly Trial[] = [
  { engine: 'chain', filters: 100 },
  { engine: 'chain', filters: 1000 },
  { engine: 'chain', filters: 10000 },
  { engine: 'maps', filters: 100 },
  { engine: 'maps', filters: 1000 },
  { engine: 'maps', filters: 10000 },
  { engine: 'maps', filters: 100000 },
  // capture reading: pfsim's reader and the whole verdict path against libpcap, 1M packets
  { engine: 'pcap', filters: 0 },
];

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function parseScale(s: string): number {
  const m = /^(\d+)(k?)$/i.exec(s.trim());
  if (!m) throw new Error(`--scale: "${s}" is not a number like 100, 10k`);
  return Number(m[1]) * (m[2] ? 1000 : 1);
}

function commit(): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim(); } catch { return 'unknown'; }
}

function main(): number {
  const only = arg('--only');
  const scale = arg('--scale');
  const quick = process.argv.includes('--quick');
  const trials = TRIALS.filter((t) => (!only || t.engine === only) && (!scale || t.filters === parseScale(scale)));
  if (trials.length === 0) { process.stderr.write('bench: no trial matches the filters\n'); return 2; }
  const started = new Date();
  const results: Record<string, unknown>[] = [];
  for (const t of trials) {
    const args = t.engine === 'pcap'
      ? [join(here, 'pcap-read.js'), '--json', '--runs', quick ? '1' : '5']
      : [join(here, 'trial.js'), t.engine, String(t.filters), ...(quick ? ['2'] : [])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) { process.stderr.write(`bench: trial ${t.engine} ${t.filters} failed: ${r.stderr.trim().split('\n').pop()}\n`); return 1; }
    const fig = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
    results.push(fig);
    if (t.engine === 'pcap') {
      console.log(`pcap   1M packets  libpcap ${(fig['libpcapPps']! / 1e6).toFixed(1)} Mpps  pfsim read+parse ${(fig['readPps']! / 1e6).toFixed(1)} Mpps (${fig['readOverLibpcap']!.toFixed(2)}× libpcap)  read+parse+maps ${(fig['verdictPps']! / 1e6).toFixed(1)} Mpps, stateful ${(fig['verdictStatefulPps']! / 1e6).toFixed(1)} Mpps`);
    } else if (t.engine === 'chain') {
      console.log(`chain  ${String(t.filters).padStart(6)} filters  ${String(fig['chainRules']).padStart(6)} rules  ${fig['rulesPerPacket']!.toFixed(0).padStart(6)} walked/pkt  ${fig['nsPerRule']!.toFixed(2)} ns/rule  ${(fig['nsPerPacket']! / 1000).toFixed(2)} µs/pkt`);
    } else {
      console.log(`maps   ${String(t.filters).padStart(6)} filters  ${String(fig['lpmEntries']).padStart(6)} LPM entries  ${fig['nsPerPacket']!.toFixed(1)} ns/pkt`);
    }
  }
  // same-run ratios
  const find = (e: string, n: number) => results.find((r) => r['engine'] === e && r['filters'] === n) as Record<string, number> | undefined;
  const ratios: Record<string, number> = {};
  const m100 = find('maps', 100), m100k = find('maps', 100000);
  if (m100 && m100k) ratios['maps_growth_100k_over_100'] = m100k['nsPerPacket']! / m100['nsPerPacket']!;
  for (const n of [100, 1000, 10000]) {
    const c = find('chain', n), m = find('maps', n);
    if (c && m) ratios[`maps_speedup_over_chain_${n}`] = c['nsPerPacket']! / m['nsPerPacket']!;
  }
  for (const [k, v] of Object.entries(ratios)) console.log(`ratio  ${k} = ${v.toFixed(2)}×`);
  const seconds = (Date.now() - started.getTime()) / 1000;
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const dir = join(root, 'results', `${stamp}-${hostname()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify({
    started: started.toISOString(), seconds, commit: commit(), node: process.version, kernel: release(),
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), quick, results, ratios,
  }, null, 2) + '\n');
  const latest = join(root, 'results', 'latest');
  rmSync(latest, { force: true });
  symlinkSync(dir.slice(join(root, 'results').length + 1), latest);
  console.log(`wrote ${join(dir, 'results.json')} (${seconds.toFixed(0)} s)`);
  return 0;
}

process.exitCode = main();
