/**
 * Every engine on the same packets at growing rule counts: `chain` and `maps` in this process,
 * `bpf` under BPF_PROG_TEST_RUN (one syscall per packet), and the kernel dataplanes that send
 * real frames through a private testbed (`iptables`, `nft`, and `tc` where available). Figures
 * are wall-clock µs per packet over one large batch; for the testbed engines the batch cost
 * includes injection and observation, so the same-run 0-rule figure is their baseline and the
 * cost per rule walked is (t(n) - t(0)) / rules walked (walk lengths from the chain engine).
 *
 *   node dist/bench/kernel.js [--sizes 0,100,1000,10000] [--packets 20000] [--json]
 */
import { performance } from 'node:perf_hooks';
import { compile } from '../src/compile/index.js';
import { createEngine, engineAvailability } from '../src/engines/index.js';
import { ChainEngine } from '../src/engines/chain.js';
import { ENGINE_NAMES, OUT_WORDS, type EngineName } from '../src/engines/engine.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { scaleCluster, scaleTraffic } from './workloads.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : dflt;
}

const sizes = arg('--sizes', '0,100,1000,10000').split(',').map(Number);
const count = Number(arg('--packets', '20000'));
const engines = ENGINE_NAMES.filter((e) => engineAvailability(e).ok) as EngineName[];
const skipped = ENGINE_NAMES.filter((e) => !engineAvailability(e).ok).map((e) => `${e} (${(engineAvailability(e) as { reason: string }).reason})`);

interface Row { filters: number; rulesWalked: number; us: Record<string, number>; agree: boolean }
const rows: Row[] = [];
for (const n of sizes) {
  const { cluster, rules } = scaleCluster(Math.max(n, 1));
  // n = 0: the pod is isolated by a policy that allows everything (one rule, nothing to walk)
  const c = n === 0 ? { ...cluster, policies: cluster.policies.map((p) => ({ ...p, ingress: [{ peers: [], ports: [] }] })) } : cluster;
  const plan = compile(c);
  const traffic = scaleTraffic(rules, count, 7).map((p) => ({ ...p, flags: p.proto === 6 ? 0x02 : 0 }));
  const pkts = packetBatch(count);
  traffic.forEach((p, i) => writePacket(pkts, i, p));
  const walker = new ChainEngine(plan, { stateful: false });
  walker.classify(pkts, count, new Uint32Array(count * OUT_WORDS));
  const row: Row = { filters: n, rulesWalked: walker.walked / count, us: {}, agree: true };
  let first: Uint32Array | undefined;
  for (const name of engines) {
    const e = createEngine(name, plan, { stateful: false });
    try {
      const out = new Uint32Array(count * OUT_WORDS);
      e.classify(pkts, Math.min(count, 256), out); // warm up: helper start, caches
      const t0 = performance.now();
      e.classify(pkts, count, out);
      row.us[name] = ((performance.now() - t0) * 1000) / count;
      if (!first) first = out;
      else for (let i = 0; i < count; i++) if (out[i * OUT_WORDS] !== first[i * OUT_WORDS]) { row.agree = false; break; }
    } finally {
      e.close();
    }
  }
  rows.push(row);
  console.log(`${String(n).padStart(6)} filters  ${row.rulesWalked.toFixed(0).padStart(6)} rules walked/pkt  ` +
    engines.map((e) => `${e} ${row.us[e]!.toFixed(2)} µs`).join('  ') + `  ${row.agree ? 'all agree' : 'DISAGREE'}`);
}
const base = rows.find((r) => r.filters === 0);
if (base) {
  for (const r of rows.filter((x) => x.filters > 0)) {
    const per = (e: string) => (((r.us[e] ?? NaN) - (base.us[e] ?? NaN)) * 1000) / Math.max(1, r.rulesWalked - base.rulesWalked);
    console.log(`${String(r.filters).padStart(6)} filters  ns per rule walked above the 0-rule baseline: ` +
      ['chain', 'iptables', 'nft'].filter((e) => engines.includes(e as EngineName)).map((e) => `${e} ${per(e).toFixed(2)}`).join('  '));
  }
}
if (skipped.length) console.log(`left out: ${skipped.join('; ')}`);
if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ bench: 'kernel', packets: count, engines, skipped, rows }) + '\n');
