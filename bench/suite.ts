/**
 * The sweep's workloads: what cluster and which trace a (workload, scale) names.
 *   demo   the built-in demo cluster with deny-all + allow-from-client-one, and the demo's
 *          Ethernet capture (curl over IPv4 and IPv6, DNS, ping)
 *   scale  a dual-stack server pod whose ingress policy holds ClassBench-drawn ipBlock rules,
 *          sized so the chain has about `scale` rules (2 per filter plus 16 structural), and
 *          TRACE_PACKETS packets of mixed traffic (bench/traffic.ts)
 * Traces are written once into traces/ and reused by every trial and later runs. The demo also
 * gives the policy-change step its two changes (DEMO_CHANGES): no policy → deny-all, and
 * deny-all → deny-all + allow-from-client-one.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster } from '../src/cluster/model.js';
import { writeDemoTraces } from '../src/capture/demo-traces.js';
import { DEMO_POLICIES, demoClusterYaml } from '../src/demo/cluster.js';
import type { ClusterState } from '../src/verdict/diff.js';
import { ensureTrace, TRAFFIC_VERSION } from './traffic.js';
import { scaleCluster } from './workloads.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCALES = [10, 100, 1000, 10000, 100000] as const;
export const QUICK_SCALES = [100, 10000] as const;
export const TRACE_PACKETS = 100_000;
export type Workload = 'demo' | 'scale';

/** Bytes of an aws trial's --departures file, one per packet: how its verdict relates to Kubernetes'. */
export const DEPARTURE_NONE = 0, DEPARTURE_KNOWN = 1, DEPARTURE_UNEXPLAINED = 2;

/** Filters for a chain of about `scale` rules: each filter is one rule per family's policy chain
 *  plus its MARK, and the structural rules of both families add 16. */
export function filtersFor(scale: number): number {
  return Math.max(1, Math.round((scale - 16) / 2));
}

const DEMO_SET = ['demo-app-deny-all', 'demo-app-allow-client-one'];

/** The demo cluster with the named demo policies applied; its paths name the cluster and the policies. */
export function demoState(policies: readonly string[]): ClusterState {
  const yaml = policies.map((name) => {
    const p = DEMO_POLICIES.find((x) => x.name === name);
    if (!p) throw new RangeError(`demoState: no demo policy ${name}`);
    return p.yaml;
  });
  return { paths: ['demo cluster', ...policies], cluster: clusterFromText(`demo:${policies.join('+') || 'no policy'}`, [demoClusterYaml(), ...yaml].join('---\n')) };
}

/** The demo's policy changes the bench replays its capture against, as demo policy names. */
export const DEMO_CHANGES: readonly { readonly label: string; readonly before: readonly string[]; readonly after: readonly string[] }[] = [
  { label: 'deny-all applied to demo-app', before: [], after: ['demo-app-deny-all'] },
  { label: 'allow-from-client-one added', before: ['demo-app-deny-all'], after: DEMO_SET },
];

export function workloadCluster(workload: Workload, scale: number): Cluster {
  if (workload === 'demo') return demoState(DEMO_SET).cluster;
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
