/**
 * The sweep's workloads: what cluster and which trace a (workload, scale) names.
 *   demo   the built-in demo cluster with deny-all + allow-from-client-one, and the demo's
 *          Ethernet capture (curl over IPv4 and IPv6, DNS, ping)
 *   scale  a dual-stack server pod whose ingress policy holds ClassBench-drawn ipBlock rules,
 *          sized so the chain has about `scale` rules (2 per filter plus 16 structural), and
 *          TRACE_PACKETS packets of mixed traffic (bench/traffic.ts)
 * Traces are written once into traces/ and reused by every trial and later runs.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster } from '../src/cluster/model.js';
import { writeDemoTraces } from '../src/capture/demo-traces.js';
import { DEMO_POLICIES, demoClusterYaml } from '../src/demo/cluster.js';
import { ensureTrace, TRAFFIC_VERSION } from './traffic.js';
import { scaleCluster } from './workloads.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCALES = [10, 100, 1000, 10000, 100000] as const;
export const QUICK_SCALES = [100, 10000] as const;
export const TRACE_PACKETS = 100_000;
export type Workload = 'demo' | 'scale';

/** Filters for a chain of about `scale` rules: each filter is one rule per family's policy chain
 *  plus its MARK, and the structural rules of both families add 16. */
export function filtersFor(scale: number): number {
  return Math.max(1, Math.round((scale - 16) / 2));
}

const DEMO_SET = ['demo-app-deny-all', 'demo-app-allow-client-one'];

export function workloadCluster(workload: Workload, scale: number): Cluster {
  if (workload === 'demo') {
    const text = [demoClusterYaml(), ...DEMO_POLICIES.filter((p) => DEMO_SET.includes(p.name)).map((p) => p.yaml)].join('---\n');
    return clusterFromText('demo', text);
  }
  return scaleCluster(filtersFor(scale), 1, { dualStack: true }).cluster;
}

/** The trace of a workload, written now if it is not in traces/ yet. */
export function workloadTrace(workload: Workload, scale: number): string {
  const dir = join(ROOT, 'traces');
  if (workload === 'demo') {
    const file = join(dir, 'demo-curl.pcap');
    if (!existsSync(file)) writeDemoTraces(dir);
    return file;
  }
  const file = join(dir, `bench-scale-${scale}-${TRACE_PACKETS}-v${TRAFFIC_VERSION}.pcap`);
  ensureTrace(file, scaleCluster(filtersFor(scale), 1, { dualStack: true }).rules, TRACE_PACKETS);
  return file;
}
