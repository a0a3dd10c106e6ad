/**
 * One trial of the sweep, in this (fresh) process: one engine on one workload at one scale.
 * Prints one JSON line: a `Trial` (src/report/schema.ts) plus where its verdicts went.
 *
 *   node dist/bench/trial.js --workload scale --scale 1000 --engine maps
 *        [--budget-ms 600] [--repeats 3] [--verdicts FILE] [--departures FILE]
 *
 * The trace is parsed into packet records first (not timed), then judged statefully in trace
 * order, from its first packet: as many packets as the budget allows (at least 1000, at most
 * the whole trace) after a short probe of the engine's speed. In-process engines (chain, maps,
 * bpf) judge them in passes, conntrack forgotten between passes, each repeat timing as many
 * passes as fit its share of the budget. Testbed engines (tc, iptables, nft) send real frames
 * and forgetting their state means rebuilding the testbed, so they judge one continuous run
 * timed in `repeats` consecutive slices, by the kernel's own time on the path (see timeSlices).
 * Either way the verdicts of the first packets of the trace are the same for every engine, and
 * are written (one byte per packet: 1 allow, 2 deny) for the agreement matrix. The aws engine
 * also writes, per packet, whether its verdict departs from Kubernetes semantics (DEPARTURE_*),
 * and adds to its line its departures over the whole trace by reason (src/verdict/departures.ts).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { openCapture, META_FIXED_INFO, META_FIXED_PORTS, META_STATUS, META_WORDS } from '../src/capture/reader.js';
import { compile } from '../src/compile/index.js';
import type { AwsEngine } from '../src/engines/aws.js';
import { ChainEngine } from '../src/engines/chain.js';
import { OUT_WORDS, VERDICT_ALLOW, type Engine, type EngineName } from '../src/engines/engine.js';
import { createEngine } from '../src/engines/index.js';
import { PKT_BYTES } from '../src/engines/packet.js';
import type { Departure, Trial } from '../src/report/schema.js';
import { departures } from '../src/verdict/departures.js';
import { spread } from './stats.js';
import { DEPARTURE_KNOWN, DEPARTURE_NONE, DEPARTURE_UNEXPLAINED, workloadCluster, workloadTrace, type Workload } from './suite.js';

const TESTBED: readonly string[] = ['tc', 'iptables', 'nft'];
const LINEAR: readonly string[] = ['chain', 'iptables', 'nft'];
/** the fewest packets a trial judges, however slow the engine (the agreement needs them) */
const MIN_PACKETS = 1000;

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
}

/**
 * Every packet of `file` that parsed, as one contiguous batch of records, with the capture's
 * fixed-offset view of each (two words: what the aws engine reads, as replay passes it).
 */
export function loadPackets(file: string): { pkts: Uint8Array; count: number; views: Uint32Array } {
  const parts: Uint8Array[] = [];
  const view: number[] = [];
  let count = 0;
  for (const b of openCapture(file)) {
    for (let i = 0; i < b.count; i++) {
      if (b.meta[i * META_WORDS + META_STATUS] !== 0) continue;
      parts.push(b.pkts.slice(i * PKT_BYTES, (i + 1) * PKT_BYTES));
      view.push(b.meta[i * META_WORDS + META_FIXED_PORTS]!, b.meta[i * META_WORDS + META_FIXED_INFO]!);
      count++;
    }
  }
  const pkts = new Uint8Array(count * PKT_BYTES);
  parts.forEach((p, i) => pkts.set(p, i * PKT_BYTES));
  return { pkts, count, views: Uint32Array.from(view) };
}

interface Timing { readonly nsPerPacket: number[]; readonly packets: number; readonly out: Uint32Array }

/** Milliseconds per packet on the trace's first packets (after a warm-up); state is reset after. */
function probe(e: Engine, pkts: Uint8Array, count: number, views?: Uint32Array): number {
  const n = Math.min(count, 200);
  const out = new Uint32Array(n * OUT_WORDS);
  e.classify(pkts, Math.min(n, 50), out, views); // warm-up: helper start, caches, JIT
  e.resetState();
  const t0 = performance.now();
  e.classify(pkts, n, out, views);
  const ms = Math.max((performance.now() - t0) / n, 1e-7);
  e.resetState();
  return ms;
}

/**
 * Passes over the first n packets, conntrack reset between them; each repeat fills budget/repeats.
 * `views` (the fixed-offset view of every packet) goes to the aws engine; the others ignore it.
 */
function timePasses(e: Engine, pkts: Uint8Array, count: number, repeats: number, budgetMs: number, views?: Uint32Array): Timing {
  const share = budgetMs / repeats;
  const n = Math.min(count, Math.max(MIN_PACKETS, Math.floor(share / probe(e, pkts, count, views))));
  const out = new Uint32Array(n * OUT_WORDS);
  const scratch = new Uint32Array(n * OUT_WORDS);
  e.classify(pkts, n, out, views); // the verdicts reported
  const ns: number[] = [];
  for (let r = 0; r < repeats; r++) {
    let spent = 0, judged = 0;
    do {
      e.resetState();
      const t0 = performance.now();
      e.classify(pkts, n, scratch, views);
      spent += performance.now() - t0;
      judged += n;
    } while (spent < share);
    ns.push((spent * 1e6) / judged);
  }
  return { nsPerPacket: ns, packets: n, out };
}

/** Testbed engines report the kernel's own time on their packets (the injector's send loop). */
interface KernelTimed { kernelNs(): number }
const kernelTimed = (e: Engine): e is Engine & KernelTimed => typeof (e as Partial<KernelTimed>).kernelNs === 'function';

/**
 * One continuous run over the first n packets, n fitted to the budget, timed in slices. For a
 * testbed engine the time is the kernel's: from the first frame handed to the source veth to
 * the last, which runs the node's whole forwarding path (netfilter hooks, tc programs) in the
 * sender's softirq; the helper's start-up and its wait for stragglers are left out, as they
 * are the same fixed cost for every testbed engine and would drown the filters' difference.
 */
function timeSlices(e: Engine, pkts: Uint8Array, count: number, repeats: number, budgetMs: number): Timing {
  const n = Math.min(count, Math.max(MIN_PACKETS, Math.floor(budgetMs / probe(e, pkts, count))));
  const out = new Uint32Array(n * OUT_WORDS);
  const ns: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const lo = Math.floor((n * r) / repeats), hi = Math.floor((n * (r + 1)) / repeats);
    const k0 = kernelTimed(e) ? e.kernelNs() : 0;
    const t = performance.now();
    e.classify(pkts.subarray(lo * PKT_BYTES, hi * PKT_BYTES), hi - lo, out.subarray(lo * OUT_WORDS, hi * OUT_WORDS));
    const spent = kernelTimed(e) ? e.kernelNs() - k0 : (performance.now() - t) * 1e6;
    ns.push(spent / (hi - lo));
  }
  return { nsPerPacket: ns, packets: n, out };
}

function main(): void {
  const workload = arg('--workload') as Workload;
  const scale = Number(arg('--scale'));
  const engine = arg('--engine') as EngineName;
  const budgetMs = Number(arg('--budget-ms', '600'));
  const repeats = Number(arg('--repeats', '3'));
  const verdicts = process.argv.includes('--verdicts') ? arg('--verdicts') : undefined;
  const departureFile = process.argv.includes('--departures') ? arg('--departures') : undefined;
  const plan = compile(workloadCluster(workload, scale));
  const { pkts, count, views } = loadPackets(workloadTrace(workload, scale));
  const e = createEngine(engine, plan, { stateful: true });
  let t: Timing;
  try {
    t = TESTBED.includes(engine) ? timeSlices(e, pkts, count, repeats, budgetMs) : timePasses(e, pkts, count, repeats, budgetMs, views);
  } finally {
    e.close();
  }
  let allow = 0;
  const bytes = new Uint8Array(t.packets);
  for (let i = 0; i < t.packets; i++) {
    bytes[i] = t.out[i * OUT_WORDS]!;
    if (bytes[i] === VERDICT_ALLOW) allow++;
  }
  if (verdicts) writeFileSync(verdicts, bytes);
  let departed: Departure[] | undefined;
  if (engine === 'aws') {
    // which differences from the other engines a known departure explains (the agreement matrix)
    const aws = e as AwsEngine;
    const kinds = new Uint8Array(t.packets);
    for (let i = 0; i < t.packets; i++) {
      const d = aws.departure(t.out, i);
      kinds[i] = d === undefined ? DEPARTURE_NONE : d === 'unexplained' ? DEPARTURE_UNEXPLAINED : DEPARTURE_KNOWN;
    }
    if (departureFile) writeFileSync(departureFile, kinds);
    departed = departures(plan, { pkts, count, views }, { workload, scale });
  }
  const ns = spread(t.nsPerPacket);
  let walked: number | undefined;
  if (LINEAR.includes(engine)) {
    // the chain engine walks what netfilter walks: count it on the same packets, same state
    const w = new ChainEngine(plan, { stateful: true });
    w.classify(pkts, t.packets, new Uint32Array(t.packets * OUT_WORDS));
    walked = w.walked / t.packets;
  }
  const trial: Trial = {
    workload, scale, engine, packets: t.packets, nsPerPacket: ns, pps: 1e9 / ns.median,
    ...(walked !== undefined ? { rulesWalkedPerPacket: walked } : {}),
    ...(engine === 'chain' && walked ? { nsPerRule: ns.median / walked } : {}),
    allow, deny: t.packets - allow,
  };
  // the departures ride along on the trial's line; bench/run.ts moves them to results.departures
  process.stdout.write(JSON.stringify(departed ? { ...trial, departures: departed } : trial) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`trial: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
