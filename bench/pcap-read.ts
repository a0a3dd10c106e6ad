/**
 * Capture reading against libpcap, on the same 1M-packet file in the same run:
 *   libpcap        libpcap's pcap_next_ex loop (bench/libpcap-read.c, compiled now with cc -lpcap)
 *   read+parse     pfsim's reader: fs.readSync chunks → native parser → pf_pkt + meta batches
 *   verdict        read + parse + maps engine classify (demo cluster, deny-all policy), stateless
 *                  and stateful
 * Each figure is the median of 5 runs from the page cache (after one warm-up run), in packets/s,
 * with the ratio to libpcap. The trace is written once into traces/ by the capture writer and
 * reused: realistic small packets (TCP connections to pods and the internet, DNS over UDP),
 * Ethernet, IPv4 and IPv6, interleaved as a node would see them.
 *
 *   node dist/bench/pcap-read.js [--runs N] [--json]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { frame, ipPacket, LINKTYPE_ETHERNET, tcpOptions, type IpPacketOptions, type TcpFlag } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { openCapture, type CaptureTotals } from '../src/capture/reader.js';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import { DEMO_APP, DEMO_CLIENTS, DEMO_POLICIES, demoClusterYaml } from '../src/demo/cluster.js';
import { OUT_WORDS } from '../src/engines/engine.js';
import { MapsEngine } from '../src/engines/maps.js';
import type { CaptureReading } from '../src/report/schema.js';
import { median, spread } from './stats.js';
import { rng } from './workloads.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const PACKETS = 1_000_000;
/** bump when the generated traffic changes, so an old trace is not reused */
const TRACE = join(root, 'traces', 'bench-pcap-read-1m-v2.pcap');

/** the shared seeded PRNG, with an integer draw: the same trace on every machine */
class Rng {
  private readonly next = rng(0x5eed);
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const EXTERNAL = { v4: ['93.184.215.14', '142.250.74.78', '151.101.1.69', '104.16.132.229'], v6: ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', '2a00:1450:4001:82a::200e'] };
const DNS = { v4: '10.96.0.10', v6: 'fd00:10:96::a' };

/** One connection's packets, in order, as datagrams. */
function connection(rng: Rng, k: number): Uint8Array[] {
  const v6 = rng.below(4) === 0;
  const fam = v6 ? 'v6' : 'v4';
  const client = DEMO_CLIENTS[rng.below(DEMO_CLIENTS.length)]!;
  const sport = 32768 + (k % 28000);
  const kind = rng.below(10);
  if (kind < 3) {
    // DNS: query and answer
    const q: IpPacketOptions = { src: client[fam], dst: DNS[fam], proto: 'UDP', sport, dport: 53, payload: new Uint8Array(30 + rng.below(20)) };
    const a: IpPacketOptions = { src: DNS[fam], dst: client[fam], proto: 'UDP', sport: 53, dport: sport, payload: new Uint8Array(60 + rng.below(80)), ttl: 63 };
    return [ipPacket(q), ipPacket(a)];
  }
  const server = kind < 7 ? DEMO_APP[fam] : EXTERNAL[fam][rng.below(EXTERNAL[fam].length)]!;
  const dport = kind < 7 ? 80 : 443;
  const c2s = (flags: TcpFlag[], payload = 0, opts?: Uint8Array): Uint8Array =>
    ipPacket({ src: client[fam], dst: server, proto: 'TCP', sport, dport, tcpFlags: flags, payload: new Uint8Array(payload), tcpOptions: opts ?? tcpOptions({ timestamp: [k, k] }) });
  const s2c = (flags: TcpFlag[], payload = 0, opts?: Uint8Array): Uint8Array =>
    ipPacket({ src: server, dst: client[fam], proto: 'TCP', sport: dport, dport: sport, tcpFlags: flags, payload: new Uint8Array(payload), ttl: 63, tcpOptions: opts ?? tcpOptions({ timestamp: [k, k] }) });
  const syn = tcpOptions({ mss: 1460, sackPermitted: true, timestamp: [k, 0], wscale: 7 });
  return [
    c2s(['SYN'], 0, syn), s2c(['SYN', 'ACK'], 0, syn), c2s(['ACK']),
    c2s(['PSH', 'ACK'], 70 + rng.below(60)), s2c(['ACK']),
    s2c(['PSH', 'ACK'], 150 + rng.below(250)), c2s(['ACK']),
    c2s(['FIN', 'ACK']), s2c(['FIN', 'ACK']), c2s(['ACK']),
  ];
}

/** Writes the trace unless it is there: connections interleaved 64 at a time. */
function ensureTrace(): void {
  if (existsSync(TRACE)) return;
  mkdirSync(dirname(TRACE), { recursive: true });
  const t0 = performance.now();
  const tmp = `${TRACE}.${process.pid}.tmp`;
  const w = new PcapWriter(tmp, { linkType: LINKTYPE_ETHERNET });
  const rng = new Rng();
  const live: Uint8Array[][] = [];
  let ts = 1_700_000_000_000_000_000n;
  let k = 0;
  while (w.packets < PACKETS) {
    while (live.length < 64) live.push(connection(rng, k++).reverse());
    const i = rng.below(live.length);
    const c = live[i]!;
    ts += BigInt(1000 + rng.below(20000));
    w.writePacket(ts, frame(LINKTYPE_ETHERNET, c.pop()!, { padToMinimum: true }));
    if (c.length === 0) live.splice(i, 1);
  }
  w.close();
  renameSync(tmp, TRACE);
  process.stderr.write(`wrote ${TRACE}: ${PACKETS} packets, ${statSync(TRACE).size} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}


/** Compiles the libpcap harness into a temporary directory; returns the binary's path. */
function buildHarness(dir: string): string {
  const bin = join(dir, 'libpcap-read');
  const src = join(root, 'bench', 'libpcap-read.c');
  const r = spawnSync('cc', ['-O2', src, '-lpcap', '-o', bin], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc -O2 ${src} -lpcap failed (is libpcap-dev installed?): ${r.stderr || r.error?.message}`);
  return bin;
}

/** libpcap packets/s per run (the first run is a warm-up and dropped). */
function libpcapRuns(bin: string, runs: number): number[] {
  const out = execFileSync(bin, [TRACE, String(runs + 1)], { encoding: 'utf8' });
  const lines = out.trim().split('\n').filter((l) => !l.startsWith('sum'));
  return lines.slice(1).map((l) => {
    const [n, s] = l.split(' ').map(Number);
    if (n !== PACKETS) throw new Error(`libpcap read ${n} packets, expected ${PACKETS}`);
    return n / s!;
  });
}

/** pfsim read + parse: packets/s per run, touching each batch like the harness touches packets. */
function readRuns(runs: number): { pps: number[]; totals: CaptureTotals } {
  const pps: number[] = [];
  let totals: CaptureTotals | undefined;
  let touch = 0;
  for (let r = 0; r <= runs; r++) {
    const t0 = performance.now();
    const reader = openCapture(TRACE);
    let n = 0;
    for (const b of reader) {
      n += b.count;
      touch += b.pkts[(b.count - 1) * 40]!;
    }
    const s = (performance.now() - t0) / 1000;
    totals = reader.totals();
    if (n !== PACKETS) throw new Error(`pfsim read ${n} packets, expected ${PACKETS}`);
    if (r > 0) pps.push(n / s);
  }
  if (touch < 0) console.log(touch);
  return { pps, totals: totals! };
}

/** read + parse + maps classify: packets/s per run and the allowed share. */
function verdictRuns(runs: number, stateful: boolean): { pps: number[]; allowed: number } {
  const yaml = demoClusterYaml() + '---\n' + DEMO_POLICIES[0]!.yaml;
  const engine = new MapsEngine(compile(clusterFromText('demo', yaml)), { stateful });
  const out = new Uint32Array(4096 * OUT_WORDS);
  const pps: number[] = [];
  let allowed = 0;
  for (let r = 0; r <= runs; r++) {
    engine.resetState();
    allowed = 0;
    const t0 = performance.now();
    for (const b of openCapture(TRACE, { batchSize: 4096 })) {
      engine.classify(b.pkts, b.count, out);
      for (let i = 0; i < b.count * OUT_WORDS; i += OUT_WORDS) allowed += out[i] === 1 ? 1 : 0;
    }
    const s = (performance.now() - t0) / 1000;
    if (r > 0) pps.push(PACKETS / s);
  }
  engine.close();
  return { pps, allowed: allowed / PACKETS };
}

const mpps = (x: number): string => `${(x / 1e6).toFixed(2)} Mpps`;
const range = (xs: readonly number[]): string => `(${(Math.min(...xs) / 1e6).toFixed(1)}-${(Math.max(...xs) / 1e6).toFixed(1)})`;

function main(): void {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive integer');
  ensureTrace();
  readFileSync(TRACE); // into the page cache
  const dir = mkdtempSync(join(tmpdir(), 'pfsim-bench-'));
  try {
    const lib = libpcapRuns(buildHarness(dir), runs);
    const read = readRuns(runs);
    const verdict = verdictRuns(runs, false);
    const verdictCt = verdictRuns(runs, true);
    const base = median(lib);
    const bytes = statSync(TRACE).size;
    const rows: [string, number[]][] = [
      ['libpcap pcap_next_ex', lib],
      ['pfsim read+parse', read.pps],
      ['pfsim read+parse+maps', verdict.pps],
      ['pfsim read+parse+maps stateful', verdictCt.pps],
    ];
    console.log(`trace ${TRACE.slice(root.length + 1)}: ${PACKETS} packets, ${(bytes / PACKETS).toFixed(0)} bytes/packet with headers; median of ${runs} runs`);
    for (const [name, xs] of rows) console.log(`${name.padEnd(32)} ${mpps(median(xs)).padStart(11)} ${range(xs).padEnd(12)} ${(median(xs) / base).toFixed(2)}× libpcap`);
    console.log(`ratio pfsim read+parse / libpcap = ${(median(read.pps) / base).toFixed(2)}×   allowed ${(verdict.allowed * 100).toFixed(0)}% (stateful ${(verdictCt.allowed * 100).toFixed(0)}%)`);
    if (process.argv.includes('--json')) {
      const fig: CaptureReading & Record<string, unknown> = {
        trace: TRACE.slice(root.length + 1), packets: PACKETS,
        libpcapPps: spread(lib), readPps: spread(read.pps), verdictPps: spread(verdictCt.pps),
        statelessVerdictPps: spread(verdict.pps), bytes, skipped: read.totals.skipped,
      };
      process.stdout.write(JSON.stringify(fig) + '\n');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
