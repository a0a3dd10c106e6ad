/**
 * `chain` engine cost per rule walked, at growing rule counts (ClassBench-drawn ipBlock rules).
 * Packets are classified statelessly so each walks the chain; the figure is total time over
 * total rules walked (median of repeats). Run: node dist/bench/chain.js [--sizes 100,1000,10000]
 */
import { performance } from 'node:perf_hooks';
import { compile } from '../src/compile/index.js';
import { ChainEngine } from '../src/engines/chain.js';
import { OUT_WORDS } from '../src/engines/engine.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { scaleCluster, scaleTraffic } from './workloads.js';

export interface ChainFigure {
  readonly filters: number;
  readonly chainRules: number;
  readonly rulesPerPacket: number;
  readonly nsPerRule: number;
  readonly nsPerPacket: number;
  readonly spread: readonly [number, number];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function benchChain(filters: number, repeats = 5): ChainFigure {
  const { cluster, rules } = scaleCluster(filters);
  const plan = compile(cluster);
  const engine = new ChainEngine(plan, { stateful: false });
  const batch = 4096;
  const traffic = scaleTraffic(rules, batch);
  const pkts = packetBatch(batch);
  traffic.forEach((p, i) => writePacket(pkts, i, p));
  const out = new Uint32Array(batch * OUT_WORDS);
  // enough batches for ~1e8 rule evaluations per repeat
  engine.walked = 0;
  engine.classify(pkts, batch, out); // warm up and measure the walk length
  const perPacket = engine.walked / batch;
  const batches = Math.max(1, Math.round(1e8 / (perPacket * batch)));
  const perRule: number[] = [];
  for (let r = 0; r < repeats; r++) {
    engine.walked = 0;
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) engine.classify(pkts, batch, out);
    const ns = (performance.now() - t0) * 1e6;
    perRule.push(ns / engine.walked);
  }
  const nsPerRule = median(perRule);
  return {
    filters, chainRules: engine.ruleCount, rulesPerPacket: perPacket, nsPerRule, nsPerPacket: nsPerRule * perPacket,
    spread: [Math.min(...perRule), Math.max(...perRule)],
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = process.argv.indexOf('--sizes');
  const sizes = arg > 0 ? process.argv[arg + 1]!.split(',').map(Number) : [100, 1000, 10000];
  for (const n of sizes) {
    const f = benchChain(n);
    console.log(`chain  filters ${String(n).padStart(6)}  rules ${String(f.chainRules).padStart(6)}  walked/pkt ${f.rulesPerPacket.toFixed(0).padStart(6)}  ${f.nsPerRule.toFixed(2)} ns/rule (${f.spread[0].toFixed(2)}-${f.spread[1].toFixed(2)})  ${(f.nsPerPacket / 1000).toFixed(2)} µs/pkt`);
  }
}
