/** cluster → plan: the one entry point every engine and output format goes through. */
import type { Cluster } from '../cluster/model.js';
import { formatIp } from '../net/ip.js';
import { resolve } from '../policy/resolve.js';
import { compileChainTable } from './chain.js';
import { compileMaps } from './maps.js';
import { compileAws } from './aws.js';
import { type Plan, type PlanPod, type PlanRule, DEFAULT_MAX_RULES, PLAN_VERSION, PlanBudget } from './plan.js';
import { parseCount } from '../options.js';

export interface CompileOptions {
  /** chain rules plus map entries at most (default DEFAULT_MAX_RULES); --max-rules */
  readonly maxRules?: number;
  /** names the cluster in errors, e.g. its manifest paths */
  readonly name?: string;
}

/**
 * Compiles a cluster into its plan. Throws PfsimError PFSIM_ERR_COMPILE, naming the cluster,
 * when the chains and maps would hold more than `maxRules` rules and entries.
 */
export function compile(cluster: Cluster, options: CompileOptions = {}): Plan {
  const budget = new PlanBudget(options.maxRules ?? DEFAULT_MAX_RULES, options.name ?? 'cluster');
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
    chain: { ipv4: compileChainTable(res, 4, budget), ipv6: compileChainTable(res, 6, budget) },
    maps: compileMaps(res, budget),
    aws: compileAws(res, cluster, undefined, budget),
  };
}

/** Parses --max-rules: a positive integer. Throws PfsimError PFSIM_ERR_USAGE otherwise. */
export function parseMaxRules(text: string): number {
  return parseCount('--max-rules', text);
}
