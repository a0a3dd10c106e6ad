/** cluster → plan: the one entry point every engine and output format goes through. */
import type { Cluster } from '../cluster/model.js';
import { formatIp } from '../net/ip.js';
import { resolve } from '../policy/resolve.js';
import { compileChainTable } from './chain.js';
import { compileMaps } from './maps.js';
import { compileAws } from './aws.js';
import { type Plan, type PlanPod, type PlanRule, PLAN_VERSION } from './plan.js';

export function compile(cluster: Cluster): Plan {
  const res = resolve(cluster);
  const pods: PlanPod[] = res.pods.map((rp) => ({
    id: rp.id,
    namespace: rp.pod.namespace,
    name: rp.pod.name,
    ips: rp.pod.ips.map(formatIp),
    ...(rp.pod.nodeName ? { node: rp.pod.nodeName } : {}),
    ingressIsolated: rp.ingress.isolated,
    egressIsolated: rp.egress.isolated,
  }));
  const rules: PlanRule[] = res.rules.map((r) => ({ id: r.id, source: r.source, dir: r.dir, index: r.index, pod: r.pod }));
  return {
    version: PLAN_VERSION,
    pods,
    rules,
    chain: { ipv4: compileChainTable(res, 4), ipv6: compileChainTable(res, 6) },
    maps: compileMaps(res),
    aws: compileAws(res, cluster),
  };
}
