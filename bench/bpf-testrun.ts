/**
 * The tc program's cost per packet under BPF_PROG_TEST_RUN at growing LPM trie sizes, next to
 * the maps engine (the same decision in the host addon) on the same plan and packets, as a
 * same-run ratio. One ingress-isolated pod whose trie holds the entries of n ClassBench-drawn
 * ipBlock rules (bench/workloads.ts); stateless, so every packet does the pod-state and LPM
 * lookups and the port scan.
 *
 *   bpf ns/pkt      the kernel's own average over `repeat` runs of one frame (test_run's
 *                   duration: no syscall, the skb set up once), averaged over the frames
 *   syscall ns/pkt  classifyBatch: one BPF_PROG_TEST_RUN syscall per packet, as the engine runs
 *   maps ns/pkt     MapsEngine.classify over batches of the same packets
 *
 *   node dist/bench/bpf-testrun.js [--sizes 1,100,10000,100000] [--repeat 100000] [--quick]
 *
 * Without root (or the BPF object) it says why and exits 0, so a smoke run never fails on it.
 */
import { performance } from 'node:perf_hooks';
import { frame, ipPacket, LINKTYPE_ETHERNET } from '../src/capture/frames.js';
import { compile } from '../src/compile/index.js';
import { encodeMaps } from '../src/compile/layout.js';
import { bpfAvailability, createBpfClassifier } from '../src/engines/bpf.js';
import { OUT_WORDS } from '../src/engines/engine.js';
import { MapsEngine } from '../src/engines/maps.js';
import { packetBatch, writePacket, type PacketHeader } from '../src/engines/packet.js';
import { scaleCluster, scaleTraffic } from './workloads.js';
import { median } from './stats.js';

export interface BpfFigure {
  readonly filters: number;
  readonly lpmEntries: number;
  /** kernel-measured ns per run, mean over the frames */
  readonly bpfNsPerPacket: number;
  /** one test-run syscall per packet (classifyBatch) */
  readonly syscallNsPerPacket: number;
  readonly mapsNsPerPacket: number;
  readonly allowedShare: number;
}


function frameOf(p: PacketHeader): Uint8Array {
  const proto = p.proto === 17 ? 'UDP' : 'TCP';
  return frame(LINKTYPE_ETHERNET, ipPacket({ src: p.src, dst: p.dst, proto, sport: p.sport, dport: p.dport, tcpFlags: ['SYN'] }));
}

export function benchBpf(filters: number, frames: number, repeat: number): BpfFigure {
  const { cluster, rules } = scaleCluster(filters);
  const plan = compile(cluster);
  const packets = scaleTraffic(rules, frames, 1000);
  const batch = packetBatch(frames);
  packets.forEach((p, i) => writePacket(batch, i, { ...p, flags: p.proto === 6 ? 0x02 : 0 }));
  const out = new Uint32Array(frames * OUT_WORDS);

  // the tc program: kernel-timed runs of each frame, then the engine's syscall-per-packet path
  const c = createBpfClassifier();
  let bpfNs: number, syscallNs: number, allowed = 0;
  try {
    const l = encodeMaps(plan.maps);
    c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
    const wire = packets.map(frameOf);
    let sum = 0;
    for (const f of wire) sum += c.timePerPacket(f, repeat);
    bpfNs = sum / wire.length;
    c.classifyBatch(batch, frames, out, false);
    for (let i = 0; i < frames; i++) if (out[i * OUT_WORDS] === 1) allowed++;
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      c.classifyBatch(batch, frames, out, false);
      rounds.push(((performance.now() - t0) * 1e6) / frames);
    }
    syscallNs = median(rounds);
  } finally {
    c.close();
  }

  // the maps engine on the same plan and packets, in batches of 4096 cycling through them
  const engine = new MapsEngine(plan, { stateful: false });
  let mapsNs: number;
  try {
    const n = 4096;
    const big = packetBatch(n);
    for (let i = 0; i < n; i++) big.set(batch.subarray((i % frames) * 40, (i % frames) * 40 + 40), i * 40);
    const bigOut = new Uint32Array(n * OUT_WORDS);
    engine.classify(big, n, bigOut);
    const total = 1 << 20;
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      for (let done = 0; done < total; done += n) engine.classify(big, n, bigOut);
      rounds.push(((performance.now() - t0) * 1e6) / total);
    }
    mapsNs = median(rounds);
  } finally {
    engine.close();
  }
  return {
    filters,
    lpmEntries: plan.maps.tries.reduce((s, t) => s + t.entries.length, 0),
    bpfNsPerPacket: bpfNs,
    syscallNsPerPacket: syscallNs,
    mapsNsPerPacket: mapsNs,
    allowedShare: allowed / frames,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function main(): number {
  const quick = process.argv.includes('--quick');
  const sizes = (arg('--sizes') ?? '1,100,10000,100000').split(',').map(Number);
  const repeat = Number(arg('--repeat') ?? (quick ? 1000 : 100000));
  const frames = quick ? 16 : 64;
  const a = bpfAvailability();
  if (!a.ok) {
    console.log(`bpf-testrun: skipped: bpf engine unavailable: ${a.reason}`);
    return 0;
  }
  console.log(`bpf-testrun: ${frames} frames x ${repeat} runs each, stateless`);
  console.log('filters  LPM entries  bpf ns/pkt  maps ns/pkt  bpf/maps  syscall ns/pkt  allowed');
  for (const n of sizes) {
    const f = benchBpf(n, frames, repeat);
    console.log(
      `${String(n).padStart(7)}  ${String(f.lpmEntries).padStart(11)}  ${f.bpfNsPerPacket.toFixed(1).padStart(10)}  ` +
      `${f.mapsNsPerPacket.toFixed(1).padStart(11)}  ${(f.bpfNsPerPacket / f.mapsNsPerPacket).toFixed(2).padStart(7)}x  ` +
      `${f.syscallNsPerPacket.toFixed(0).padStart(14)}  ${(f.allowedShare * 100).toFixed(0).padStart(6)}%`,
    );
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
