/**
 * Judges flows with engines: compile the cluster once, load the plan into each engine, push
 * the same packet batch through every engine and compare their verdicts packet by packet.
 */
import type { Cluster } from '../cluster/model.js';
import { compile } from '../compile/index.js';
import type { Plan } from '../compile/plan.js';
import { createEngine } from '../engines/index.js';
import { type EngineName, OUT_WORDS, verdictName } from '../engines/engine.js';
import { packetBatch, writePacket } from '../engines/packet.js';
import { flowToPacket } from './flows.js';
import { verdictsAgree } from './replay.js';
import type { Flow, FlowVerdict } from './types.js';

export interface JudgeOptions {
  readonly engines: readonly EngineName[];
  /** carry conntrack state from line to line (lines are packets in order) */
  readonly stateful: boolean;
}

export function judgeFlows(cluster: Cluster, flows: readonly Flow[], opts: JudgeOptions): FlowVerdict[] {
  return judgePlan(compile(cluster), flows, opts);
}

export function judgePlan(plan: Plan, flows: readonly Flow[], opts: JudgeOptions): FlowVerdict[] {
  const n = flows.length;
  const pkts = packetBatch(Math.max(n, 1));
  flows.forEach((f, i) => writePacket(pkts, i, flowToPacket(f, `flow ${i}`)));
  const results = opts.engines.map((name) => {
    const engine = createEngine(name, plan, { stateful: opts.stateful });
    try {
      const out = new Uint32Array(Math.max(n, 1) * OUT_WORDS);
      engine.classify(pkts, n, out);
      const reasons = Array.from({ length: n }, (_, i) => engine.describe(pkts, out, i));
      const departures = Array.from({ length: n }, (_, i) => engine.departure?.(out, i));
      return { name, out, reasons, departures };
    } finally {
      engine.close();
    }
  });
  return flows.map((_, i) => {
    const engines: Record<string, 'allow' | 'deny'> = {};
    for (const r of results) engines[r.name] = verdictName(r.out[i * OUT_WORDS]!);
    const first = results[0]!;
    const verdict = verdictName(first.out[i * OUT_WORDS]!);
    const departure = results.map((r) => r.departures[i]).find((d) => d !== undefined);
    return {
      index: i,
      verdict,
      engines,
      agree: verdictsAgree(engines, departure),
      reason: first.reasons[i]!,
      ...(departure !== undefined ? { departure } : {}),
    };
  });
}
