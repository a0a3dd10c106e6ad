/**
 * The static figures of one (workload, scale), in this (fresh) process: compile time (median of
 * repeats), the chain's size (rules, and bytes of iptables-restore text) against the maps' size
 * (entries, and bytes as the kernel's maps hold keys and values), and, for the demo, the flows
 * its policies deny with the reason. Prints one JSON line.
 *
 *   node dist/bench/static.js --workload scale --scale 1000 [--repeats 3]
 */
import { performance } from 'node:perf_hooks';
import { compile } from '../src/compile/index.js';
import { renderIptables } from '../src/compile/iptables.js';
import { encodeMaps, LPM_KEY_BYTES, POD_KEY_BYTES, VALUE_BYTES } from '../src/compile/layout.js';
import type { Plan } from '../src/compile/plan.js';
import type { DeniedFlow } from '../src/report/schema.js';
import { spread } from './stats.js';
import { replayCapture } from '../src/verdict/replay.js';
import { FlowTable } from '../src/verdict/summary.js';
import { workloadCluster, workloadTrace, type Workload } from './suite.js';

/** pod state value: pod id and the two isolation flags (struct pf_pod_state) */
const POD_STATE_BYTES = 8;

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
}

export function planSizes(plan: Plan): { chainRules: number; chainBytes: number; mapEntries: number; mapBytes: number } {
  const tables = [plan.chain.ipv4, plan.chain.ipv6];
  const chainRules = tables.reduce((s, t) => s + t.chains.reduce((a, c) => a + c.rules.length, 0), 0);
  const chainBytes = tables.reduce((s, t) => s + Buffer.byteLength(renderIptables(t)), 0);
  const layout = encodeMaps(plan.maps);
  const mapEntries = layout.entryTries.length;
  // every trie element holds its key and a whole value; the pod map a key and a state each
  const mapBytes = mapEntries * (LPM_KEY_BYTES + VALUE_BYTES)
    + (layout.podAddrs.length / POD_KEY_BYTES) * (POD_KEY_BYTES + POD_STATE_BYTES)
    + layout.ext.length; // the extension pool of port entries, 8 bytes each
  return { chainRules, chainBytes, mapEntries, mapBytes };
}

/** The flows of the workload's trace that the chain or maps engine denies, with the reason. */
function deniedFlows(workload: Workload, plan: Plan, trace: string): DeniedFlow[] {
  const table = new FlowTable();
  replayCapture(plan, trace, ['chain', 'maps'], { packet: (v, bytes) => table.add(v, bytes) });
  return table.summary().flows
    .filter((f) => Object.values(f.verdicts).includes('deny'))
    .map((f) => ({
      workload, flow: f.flow, packets: f.packets, reason: f.reason,
      deniedBy: Object.entries(f.verdicts).filter(([, v]) => v === 'deny').map(([e]) => e),
    }));
}

function main(): void {
  const workload = arg('--workload') as Workload;
  const scale = Number(arg('--scale'));
  const repeats = Number(arg('--repeats', '3'));
  const cluster = workloadCluster(workload, scale);
  const ms: number[] = [];
  let plan: Plan | undefined;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    plan = compile(cluster);
    ms.push(performance.now() - t0);
  }
  const out = {
    workload, scale, ...planSizes(plan!), compileMs: spread(ms),
    deniedFlows: workload === 'demo' ? deniedFlows(workload, plan!, workloadTrace(workload, scale)) : [],
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`static: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
