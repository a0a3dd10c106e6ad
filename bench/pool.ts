/**
 * Worker-pool scaling: the same capture replayed (per-connection summary, as `pfsim replay`
 * runs it) through the pool with 1, 2, … worker threads, in packets/s, and the speed-up of the
 * most workers over one. The single-thread Replayer (sequential replay + FlowTable, the path
 * before the pool) is timed too, as the baseline a user had.
 *
 *   node dist/bench/pool.js [--pcap FILE --cluster PATH...] [--engines chain,maps]
 *        [--workers 1,2] [--repeats N] [--packets N] [--scale N] [--json]
 *
 * Without --pcap/--cluster it builds its own workload: the sweep's dual-stack scale cluster with
 * a chain of about --scale rules and --packets packets (default 1M) of its mixed stateful
 * traffic (bench/traffic.ts), written once into traces/ and reused. The default scale, 2000,
 * is a server pod whose ingress policy holds about a thousand ipBlock rules (ClassBench
 * prefixes): established packets leave the chain at its first rule, new and denied
 * connections walk hundreds of rules, about 160 rules per packet on average over the trace —
 * a realistic chain walk, not a contrived one (scale 1000 walks about 80).
 *
 * Two figures per worker count: the replay as `pfsim replay` runs it (per-connection summary:
 * the workers count the flows, the main thread puts them in report order after the last batch,
 * a serial share), and the verdicts alone
 * (totals, as `pfsim verdict --pcap` without its per-packet lines), which is the pool's own
 * scaling.
 *
 * Each pool stays open over the whole run (engines loaded once, as in the CLI) and is warmed
 * by one untimed replay; then the timed replays go round the worker counts in turn, so a
 * change of machine load hits every count alike, each after a full garbage collection (the
 * previous replay's summary is garbage a single CLI run never has to collect). Figures are
 * medians over --repeats.
 * With --json the last stdout line is the PoolScaling object (src/report/schema.ts).
 */
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadCluster } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import type { Plan } from '../src/compile/plan.js';
import { ChainEngine } from '../src/engines/chain.js';
import type { EngineName } from '../src/engines/engine.js';
import { parseEngineList } from '../src/engines/index.js';
import { ReplayPool } from '../src/pool/pool.js';
import type { SlotUsage } from '../src/pool/protocol.js';
import type { PoolScaling, Spread, WorkerCpu } from '../src/report/schema.js';
import { openCapture } from '../src/capture/reader.js';
import { Replayer, replayCapture } from '../src/verdict/replay.js';
import { FlowTable } from '../src/verdict/summary.js';
import { median, spread } from './stats.js';
import { filtersFor, ROOT } from './suite.js';
import { ensureTrace, TRAFFIC_VERSION } from './traffic.js';
import { scaleCluster } from './workloads.js';

export interface PoolBenchOptions {
  readonly pcap: string;
  readonly plan: Plan;
  readonly engines: readonly EngineName[];
  /** worker counts to time; should include 1 (the speed-up's base) */
  readonly workers: readonly number[];
  readonly repeats: number;
  /** also time the main-thread path and the single-thread Replayer (default true) */
  readonly sequential?: boolean;
  /** also time each worker count without the per-connection summary (default true) */
  readonly verdictsOnly?: boolean;
  /** one line per timed replay, for a person watching */
  readonly log?: (line: string) => void;
}

export interface PoolBench extends PoolScaling {
  /** `--workers 1`: the same judging on the main thread, no worker thread, packets/s */
  readonly mainThreadPps?: Spread;
  /** the single-thread Replayer + FlowTable (the path before the pool), packets/s */
  readonly sequentialPps?: Spread;
}

/** One configuration timed in turn with the others. */
interface Contender {
  readonly label: string;
  readonly run: () => Promise<unknown>;
  readonly pps: number[];
  /** per timed replay: what each worker spent (pool contenders) */
  readonly usage: (readonly SlotUsage[])[];
}

/** Times `repeats` replays of `opts.pcap` per worker count; see the module comment. */
export async function benchPool(opts: PoolBenchOptions): Promise<PoolBench> {
  const counts = [...new Set(opts.workers)].sort((a, b) => a - b);
  if (counts.length === 0) throw new Error('benchPool: no worker count');
  const pools: ReplayPool[] = [];
  try {
    for (const w of counts) pools.push(await ReplayPool.open(opts.plan, opts.engines, { workers: w }));
    const main = opts.sequential === false ? undefined : await ReplayPool.open(opts.plan, opts.engines, { workers: 1, inThread: true });
    if (main) pools.push(main);
    // warm-up: JIT in every worker, conntrack tables paged in
    let packets = 0;
    for (const p of pools) packets = (await p.replay(opts.pcap)).totals.packets;
    const pooled = (label: string, pool: ReplayPool, summary: boolean): Contender => {
      const usage: (readonly SlotUsage[])[] = [];
      return { label, pps: [], usage, run: async () => usage.push((await pool.replay(opts.pcap, { summary, usage: true })).usage!) };
    };
    const contenders: Contender[] = counts.map((w, i) => pooled(`${w} worker${w === 1 ? ' ' : 's'}`, pools[i]!, true));
    const bare: Contender[] = opts.verdictsOnly === false ? [] : counts.map((w, i) => pooled(`${w} worker${w === 1 ? ' ' : 's'}, verdicts only`, pools[i]!, false));
    contenders.push(...bare);
    if (main) contenders.push({ label: 'main thread (--workers 1)', run: () => main.replay(opts.pcap), pps: [], usage: [] });
    const gc = collector();
    const time = async (c: Contender, r: number) => {
      gc();
      const t0 = performance.now();
      await c.run();
      const x = packets / ((performance.now() - t0) / 1000);
      c.pps.push(x);
      opts.log?.(`pool   repeat ${r + 1}: ${c.label} ${fmtPps(x)}`);
    };
    for (let r = 0; r < opts.repeats; r++) for (const c of contenders) await time(c, r);
    // the old path last, on its own: its million short-lived objects per replay would weigh
    // on the garbage collector of the main thread the pools share
    const sequential: Contender = { label: 'single-thread Replayer', run: async () => sequentialReplay(opts.plan, opts.pcap, opts.engines), pps: [], usage: [] };
    if (main) for (let r = 0; r < Math.min(opts.repeats, 3); r++) await time(sequential, r);
    const byWorkers = counts.map((workers, i) => ({ workers, pps: spread(contenders[i]!.pps) }));
    const base = byWorkers[0]!.pps.median;
    const bareBy = bare.map((c, i) => ({ workers: counts[i]!, pps: spread(c.pps) }));
    const cpu = workerCpu(counts, contenders.slice(0, counts.length));
    const bareCpu = workerCpu(counts, bare);
    return {
      trace: basename(opts.pcap), packets, engines: [...opts.engines], byWorkers,
      speedup: byWorkers[byWorkers.length - 1]!.pps.median / base,
      ...(cpu ? { workerCpu: cpu } : {}),
      ...(bareBy.length > 0 ? {
        verdictsOnly: { byWorkers: bareBy, speedup: bareBy[bareBy.length - 1]!.pps.median / bareBy[0]!.pps.median, ...(bareCpu ? { workerCpu: bareCpu } : {}) },
      } : {}),
      ...(main ? { mainThreadPps: spread(contenders[contenders.length - 1]!.pps), sequentialPps: spread(sequential.pps) } : {}),
    };
  } finally {
    for (const p of pools) await p.close();
  }
}

/**
 * The worker threads' CPU time per packet for each worker count (medians over the repeats):
 * all workers' CPU time over the packets judged, which against one worker's is the cost of
 * splitting the connections; and the slower worker's CPU time per packet over the faster's,
 * which is 1 when the cores run alike and shows a host that slowed one of them. Undefined
 * where the platform gives no thread CPU time.
 */
function workerCpu(counts: readonly number[], contenders: readonly Contender[]): WorkerCpu[] | undefined {
  if (contenders.length === 0) return undefined;
  const out: WorkerCpu[] = [];
  for (let i = 0; i < counts.length; i++) {
    const runs = contenders[i]!.usage;
    if (runs.length === 0 || runs.some((u) => u.some((w) => w.cpuMs === undefined || w.judged === 0))) return undefined;
    const perPacket = runs.map((u) => u.map((w) => (w.cpuMs! * 1e6) / w.judged));
    const all = runs.map((u) => (u.reduce((a, w) => a + w.cpuMs!, 0) * 1e6) / u.reduce((a, w) => a + w.judged, 0));
    out.push({ workers: counts[i]!, nsPerPacket: median(all), slowestOverFastest: median(perPacket.map((p) => Math.max(...p) / Math.min(...p))) });
  }
  return out;
}

/** A full garbage collection, callable without starting node with --expose-gc. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** The path before the pool: Replayer in this thread, a PacketVerdict per packet into a FlowTable. */
function sequentialReplay(plan: Plan, pcap: string, engines: readonly EngineName[]): void {
  const table = new FlowTable();
  replayCapture(plan, pcap, engines, { packet: (v, bytes) => table.add(v, bytes) });
  table.summary();
}

/** Mean chain rules walked per packet over the trace, stateful (what the chain engine's load is). */
export function chainWalk(plan: Plan, pcap: string): { perPacket: number; packets: number } {
  const r = new Replayer(plan, ['chain'], 4096);
  let packets = 0;
  try {
    for (const b of openCapture(pcap)) {
      r.judge(b, packets, {});
      packets += b.count;
    }
    return { perPacket: (r.engines[0] as ChainEngine).walked / packets, packets };
  } finally {
    r.close();
  }
}

const cpuText = (c: readonly WorkerCpu[]) => c.map((x) => `${x.workers} worker${x.workers > 1 ? 's' : ''} ${x.nsPerPacket.toFixed(0)} ns${x.workers > 1 ? ` (slowest/fastest ${x.slowestOverFastest.toFixed(2)})` : ''}`).join(', ');
const fmtPps = (pps: number) => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} Mpps` : `${(pps / 1e3).toFixed(1)} kpps`);

// --- the standalone run ----------------------------------------------------------------------

interface Args {
  readonly pcap?: string;
  readonly cluster: string[];
  readonly engines: string;
  readonly workers: number[];
  readonly repeats: number;
  readonly packets: number;
  readonly scale: number;
  readonly json: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args {
  const a = { cluster: [] as string[], engines: 'chain,maps', workers: [1, 2], repeats: 5, packets: 1_000_000, scale: 2000, json: false } as {
    pcap?: string; cluster: string[]; engines: string; workers: number[]; repeats: number; packets: number; scale: number; json: boolean;
  };
  const count = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min) throw new UsageError(`${name}: "${v}" is not an integer ≥ ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--json') { a.json = true; continue; }
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${k}: needs a value`);
    switch (k) {
      case '--pcap': a.pcap = v; break;
      case '--cluster': a.cluster.push(v); break;
      case '--engines': a.engines = v; break;
      case '--workers': a.workers = v.split(',').map((x) => count('--workers', x.trim(), 1)); break;
      case '--repeats': a.repeats = count('--repeats', v, 1); break;
      case '--packets': a.packets = count('--packets', v, 1); break;
      case '--scale': a.scale = count('--scale', v, 20); break;
      default: throw new UsageError(`unknown option ${k}`);
    }
  }
  if ((a.pcap === undefined) !== (a.cluster.length === 0)) throw new UsageError('give both --pcap and --cluster, or neither (a generated workload)');
  return a;
}

/** The workload: the given capture and cluster, or the generated scale cluster and its trace. */
function workload(a: Args): { pcap: string; plan: Plan; what: string } {
  if (a.pcap !== undefined) return { pcap: a.pcap, plan: compile(loadCluster(a.cluster)), what: `${a.pcap} on ${a.cluster.join(', ')}` };
  const { cluster, rules } = scaleCluster(filtersFor(a.scale), 1, { dualStack: true });
  const pcap = join(ROOT, 'traces', `bench-pool-${a.scale}-${a.packets}-v${TRAFFIC_VERSION}.pcap`);
  ensureTrace(pcap, rules, a.packets);
  return { pcap, plan: compile(cluster), what: `generated scale cluster (${rules.length} ipBlock rules, chain of about ${a.scale} rules), ${a.packets} packets` };
}

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench pool: ${e.message}\n`);
    return 2;
  }
  const log = (line: string) => { if (!a.json) process.stdout.write(line + '\n'); };
  const engines = parseEngineList(a.engines);
  const w = workload(a);
  log(`pool   workload: ${w.what}`);
  const walk = engines.includes('chain') ? chainWalk(w.plan, w.pcap) : undefined;
  if (walk) log(`pool   chain walks ${walk.perPacket.toFixed(1)} rules per packet on average over ${walk.packets} packets`);
  // the main-thread and single-thread baselines are for a person reading the log: the JSON
  // (results.json's PoolScaling) has no place for them, so the sweep does not wait for them
  const r = await benchPool({ pcap: w.pcap, plan: w.plan, engines, workers: a.workers, repeats: a.repeats, log, sequential: !a.json });
  const { sequentialPps, mainThreadPps, ...rest } = r;
  const scaling: PoolScaling = { ...rest, ...(walk ? { rulesWalkedPerPacket: walk.perPacket } : {}) };
  const range = (x: Spread) => `${fmtPps(x.median)} (${fmtPps(x.min)}–${fmtPps(x.max)})`;
  const most = r.byWorkers[r.byWorkers.length - 1]!;
  log(`pool   ${r.packets} packets through ${r.engines.join('+')}: ${r.byWorkers.map((x) => `${x.workers} worker thread${x.workers > 1 ? 's' : ''} ${range(x.pps)}`).join(', ')}`);
  log(`pool   speed-up ${r.speedup.toFixed(2)}× (${most.workers} worker threads over ${r.byWorkers[0]!.workers}), per-connection summary included`);
  if (r.workerCpu) log(`pool   worker CPU per packet: ${cpuText(r.workerCpu)}`);
  if (r.verdictsOnly) log(`pool   verdicts only: ${r.verdictsOnly.byWorkers.map((x) => `${x.workers} worker thread${x.workers > 1 ? 's' : ''} ${range(x.pps)}`).join(', ')}; speed-up ${r.verdictsOnly.speedup.toFixed(2)}×`);
  if (r.verdictsOnly?.workerCpu) log(`pool   verdicts only, worker CPU per packet: ${cpuText(r.verdictsOnly.workerCpu)}`);
  if (mainThreadPps) log(`pool   main thread (--workers 1) ${range(mainThreadPps)}: ${most.workers} worker threads ${(most.pps.median / mainThreadPps.median).toFixed(2)}× that`);
  if (sequentialPps) log(`pool   single-thread Replayer (before the pool) ${range(sequentialPps)}: ${most.workers} worker threads ${(most.pps.median / sequentialPps.median).toFixed(2)}× that`);
  if (a.json) process.stdout.write(JSON.stringify(scaling) + '\n');
  return 0;
}

// run as a script, not when imported (by bench/run.ts or a test)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`bench pool: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    process.exitCode = 1;
  });
}
