/**
 * Bounded memory: peak resident memory of `pfsim verdict --pcap FILE --json` (per-packet
 * output streamed to /dev/null), or of `pfsim replay` (`--command replay`: the per-connection
 * summary, whose first --max-flows connections are listed and the rest added up), over traces
 * of short TCP connections of growing length. The
 * state that outlives a packet is conntrack, which ages entries by trace time and has a size
 * limit (src/engines/conntrack.ts), so peak RSS must not grow with the trace: the longest
 * trace's peak over the shortest's is the figure, and it must stay under --max-ratio (1.3).
 *
 *   node dist/bench/memory.js [--packets 1000000,10000000] [--engines chain,maps]
 *        [--workers 1] [--command verdict|replay] [--max-ratio 1.3] [--json]
 *
 * The traces are written once into traces/ (memory-<N>.pcap, raw IPv4, reused): 1000 new
 * connections per trace second, each SYN, SYN-ACK, ACK, FIN, FIN from a client address and
 * port of its own, so about 121k connections are alive at any time (a closed one lingers 120 s)
 * whatever the trace length. Packets are patched copies of five templates, so 10M packets take
 * seconds to write. Each run is a fresh child process measured by /usr/bin/time (%M, max RSS).
 * Exit status 1 when the ratio is over the limit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipPacket, LINKTYPE_RAW } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'dist', 'src', 'cli.js');
const SERVER = '10.0.0.1';
/** new connections per trace second */
const CONN_RATE = 1000;
const PER_CONN = 5;

/** the server admits TCP port 80 from the client block; the client pod admits nobody */
const CLUSTER_YAML = `apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, labels: {app: server}}
status: {podIP: ${SERVER}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-in, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: {cidr: 10.64.0.0/10}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-closed, namespace: default}
spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Ingress]}
`;

interface Options { packets: number[]; engines: string; workers: number; command: 'verdict' | 'replay'; maxRatio: number; json: boolean }

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { packets: [1_000_000, 10_000_000], engines: 'chain,maps', workers: 1, command: 'verdict', maxRatio: 1.3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!, v = argv[i + 1];
    if (a === '--json') { o.json = true; continue; }
    if (v === undefined) throw new Error(`${a}: missing value`);
    if (a === '--packets') o.packets = v.split(',').map(Number);
    else if (a === '--engines') o.engines = v;
    else if (a === '--workers') o.workers = Number(v);
    else if (a === '--max-ratio') o.maxRatio = Number(v);
    else if (a === '--command' && (v === 'verdict' || v === 'replay')) o.command = v;
    else throw new Error(`unknown option ${a}`);
    i++;
  }
  if (o.packets.length < 2 || o.packets.some((n) => !Number.isInteger(n) || n < PER_CONN)) throw new Error('--packets: two or more integers');
  return o;
}

/** one connection's packets, client 10.64.0.0 port 1024: their bytes, patched per connection */
function templates(): Uint8Array[] {
  const c = { src: '10.64.0.0', dst: SERVER, proto: 'TCP' as const, sport: 1024, dport: 80 };
  const s = { src: SERVER, dst: '10.64.0.0', proto: 'TCP' as const, sport: 80, dport: 1024 };
  return [
    ipPacket({ ...c, tcpFlags: ['SYN'] }),
    ipPacket({ ...s, tcpFlags: ['SYN', 'ACK'] }),
    ipPacket({ ...c, tcpFlags: ['ACK'] }),
    ipPacket({ ...c, tcpFlags: ['FIN', 'ACK'] }),
    ipPacket({ ...s, tcpFlags: ['FIN', 'ACK'] }),
  ];
}

/**
 * Gives packet `k` of connection `n` its client: address 10.64.0.0 + (n >> 6) (the low 22 bits),
 * port 1024 + (n & 63); so no client address and port repeat within 2^28 connections. The
 * checksums are left as they are: the reader does not verify them.
 */
function patch(t: Uint8Array, k: number, n: number): void {
  const host = (n >>> 6) & 0x3fffff, port = 1024 + (n & 63);
  const toServer = k !== 1 && k !== 4;
  const addr = toServer ? 12 : 16, portOff = 20 + (toServer ? 0 : 2);
  t[addr + 1] = 64 | (host >>> 16); t[addr + 2] = (host >>> 8) & 0xff; t[addr + 3] = host & 0xff;
  t[portOff] = port >>> 8; t[portOff + 1] = port & 0xff;
}

/** Writes `packets` packets of short connections to `file` unless it is there. */
function ensureTrace(file: string, packets: number): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  const t0 = performance.now();
  const tmp = `${file}.${process.pid}.tmp`;
  const w = new PcapWriter(tmp, { linkType: LINKTYPE_RAW });
  const tpl = templates();
  const step = 1_000_000_000n / BigInt(CONN_RATE * PER_CONN); // ns between packets
  let ts = 1_700_000_000_000_000_000n;
  for (let i = 0; i < packets; i++) {
    const n = Math.floor(i / PER_CONN), k = i % PER_CONN, t = tpl[k]!;
    patch(t, k, n);
    w.writePacket(ts, t);
    ts += step;
  }
  w.close();
  renameSync(tmp, file);
  process.stderr.write(`wrote ${file}: ${packets} packets, ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

interface Run { packets: number; seconds: number; maxRssKiB: number }

/** One `pfsim verdict --json` (or `pfsim replay`) child, stdout to /dev/null; its peak RSS from /usr/bin/time. */
function measure(file: string, cluster: string, packets: number, o: Options): Run {
  const t0 = performance.now();
  const what = o.command === 'verdict' ? ['verdict', '--pcap', file, '--json'] : ['replay', '--pcap', file];
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss %M', process.execPath, CLI, ...what,
    '--cluster', cluster, '--engines', o.engines, '--workers', String(o.workers)], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  const m = /maxrss (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`pfsim ${o.command} on ${file} failed (status ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  return { packets, seconds, maxRssKiB: Number(m[1]) };
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is needed (apt-get install time)');
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'pfsim-memory-'));
  try {
    const cluster = join(dir, 'cluster.yaml');
    writeFileSync(cluster, CLUSTER_YAML);
    const runs: Run[] = [];
    for (const n of o.packets) {
      const file = join(root, 'traces', `memory-${n}.pcap`);
      ensureTrace(file, n);
      const r = measure(file, cluster, n, o);
      runs.push(r);
      process.stderr.write(`${String(n).padStart(10)} packets: peak RSS ${(r.maxRssKiB / 1024).toFixed(1)} MiB, ${r.seconds.toFixed(1)} s\n`);
    }
    const ratio = runs.at(-1)!.maxRssKiB / runs[0]!.maxRssKiB;
    const ok = ratio < o.maxRatio;
    const line = `peak RSS ${runs.at(-1)!.packets} vs ${runs[0]!.packets} packets: ${ratio.toFixed(2)}x (limit ${o.maxRatio}x) ${ok ? 'ok' : 'OVER'}`;
    process.stdout.write(o.json ? JSON.stringify({ command: o.command, engines: o.engines, workers: o.workers, runs, ratio, maxRatio: o.maxRatio, ok }) + '\n' : line + '\n');
    if (!ok) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
