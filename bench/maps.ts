/**
 * `maps` engine cost per packet at growing LPM trie sizes: one ingress-isolated pod whose trie
 * holds the union entries of n ClassBench-drawn ipBlock rules, judged statelessly so every
 * packet does the pod-state and LPM lookups and the port scan.
 */
import { performance } from 'node:perf_hooks';
import { compile } from '../src/compile/index.js';
import { MapsEngine } from '../src/engines/maps.js';
import { OUT_WORDS } from '../src/engines/engine.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { scaleCluster, scaleTraffic } from './workloads.js';

export interface MapsFigure {
  readonly filters: number;
  readonly lpmEntries: number;
  readonly nsPerPacket: number;
  readonly spread: readonly [number, number];
  readonly allowedShare: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function benchMaps(filters: number, repeats = 7): MapsFigure {
  const { cluster, rules } = scaleCluster(filters);
  const plan = compile(cluster);
  const engine = new MapsEngine(plan, { stateful: false });
  const batch = 4096, distinct = 64;
  // 64 distinct batches so the working set is not one hot batch
  const batches = Array.from({ length: distinct }, (_, k) => {
    const pkts = packetBatch(batch);
    scaleTraffic(rules, batch, 1000 + k).forEach((p, i) => writePacket(pkts, i, p));
    return pkts;
  });
  const out = new Uint32Array(batch * OUT_WORDS);
  let allowed = 0;
  for (const b of batches) {
    engine.classify(b, batch, out);
    for (let i = 0; i < batch; i++) if (out[i * OUT_WORDS] === 1) allowed++;
  }
  const total = 1 << 20; // packets per repeat
  const ns: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let done = 0, k = 0; done < total; done += batch, k++) engine.classify(batches[k % distinct]!, batch, out);
    ns.push(((performance.now() - t0) * 1e6) / total);
  }
  engine.close();
  return {
    filters,
    lpmEntries: plan.maps.tries.reduce((n, t) => n + t.entries.length, 0),
    nsPerPacket: median(ns),
    spread: [Math.min(...ns), Math.max(...ns)],
    allowedShare: allowed / (batch * distinct),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = process.argv.indexOf('--sizes');
  const sizes = arg > 0 ? process.argv[arg + 1]!.split(',').map(Number) : [100, 10000, 100000];
  for (const n of sizes) {
    const f = benchMaps(n);
    console.log(`maps  filters ${String(n).padStart(6)}  lpm entries ${String(f.lpmEntries).padStart(6)}  ${f.nsPerPacket.toFixed(1)} ns/pkt (${f.spread[0].toFixed(1)}-${f.spread[1].toFixed(1)})  allowed ${(f.allowedShare * 100).toFixed(0)}%`);
  }
}
