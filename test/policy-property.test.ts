/**
 * Differential property test: random small clusters and flows, written out as kubectl would print
 * them and read back through the loader, must get the same verdict from the chain engine, the
 * maps engine and the independent reference evaluator. On failure fast-check prints the seed and
 * the shrunk scenario; the error message carries the manifest text and each disagreeing flow.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster } from '../src/cluster/model.js';
import { judgeFlows } from '../src/verdict/judge.js';
import type { Flow } from '../src/verdict/types.js';
import { flowsOf, scenarioArb, serialise, showFlow } from './helpers/policy-arbitraries.js';
import { referenceTrace, referenceVerdict, refPacketOf } from './reference/evaluator.js';

/** Compares every verdict; throws one message naming each disagreeing flow and the manifest. */
function compare(cluster: Cluster, file: string, text: string, flows: readonly Flow[], want: readonly string[], stateful: boolean): void {
  const got = judgeFlows(cluster, flows, { engines: ['chain', 'maps'], stateful });
  const bad: string[] = [];
  flows.forEach((f, i) => {
    const g = got[i];
    if (!g || g.index !== i || g.engines['chain'] !== want[i] || g.engines['maps'] !== want[i] || g.verdict !== want[i] || !g.agree) {
      bad.push(`flow ${i} ${showFlow(f)}: reference ${want[i]}, chain ${g?.engines['chain']}, maps ${g?.engines['maps']}, verdict ${g?.verdict}, agree ${g?.agree}`);
    }
  });
  if (got.length !== flows.length) bad.push(`judgeFlows returned ${got.length} verdicts for ${flows.length} flows`);
  if (bad.length > 0) throw new Error(`${bad.join('\n')}\n--- ${file}\n${text}`);
}

describe('random clusters: chain, maps and reference agree', () => {
  it('first packets of new connections', () => {
    fc.assert(fc.property(scenarioArb, (s) => {
      const { file, text } = serialise(s);
      const cluster = clusterFromText(file, text);
      const flows = flowsOf(s, cluster);
      compare(cluster, file, text, flows, flows.map((f) => referenceVerdict(cluster, refPacketOf(f))), false);
    }), { numRuns: 200 });
  });

  it('stateful traces: replies of allowed connections pass, replies of denied ones are judged anew', () => {
    fc.assert(fc.property(scenarioArb, fc.array(fc.nat(), { maxLength: 30 }), (s, replyPicks) => {
      const { file, text } = serialise(s);
      const cluster = clusterFromText(file, text);
      // interleave each flow with, sometimes, a reply (the reversed 5-tuple) later in the trace
      const packets: Flow[] = [...flowsOf(s, cluster)];
      for (const pick of replyPicks) {
        const f = packets[pick % packets.length]!;
        const reply: Flow = f.sport === undefined ? { src: f.dst, dst: f.src, proto: f.proto }
          : { src: f.dst, dst: f.src, proto: f.proto, sport: f.dport!, dport: f.sport };
        packets.splice((pick >>> 5) % (packets.length + 1), 0, reply);
      }
      compare(cluster, file, text, packets, referenceTrace(cluster, packets.map(refPacketOf)), true);
    }), { numRuns: 100 });
  });

  it('the generator reaches both verdicts and every peer kind', () => {
    // guards against a generator that only ever produces deny-all or allow-all clusters
    const seen = new Set<string>();
    fc.assert(fc.property(scenarioArb, (s) => {
      const { file, text } = serialise(s);
      const cluster = clusterFromText(file, text);
      for (const f of flowsOf(s, cluster)) seen.add(referenceVerdict(cluster, refPacketOf(f)));
      for (const np of cluster.policies) {
        for (const r of [...np.ingress, ...np.egress]) {
          for (const p of r.peers) seen.add(p.ipBlock ? 'ipBlock' : p.podSelector && p.namespaceSelector ? 'both' : p.podSelector ? 'pod' : 'ns');
          for (const p of r.ports) seen.add(typeof p.port === 'string' ? 'named' : p.endPort !== undefined ? 'range' : 'port');
        }
      }
    }), { numRuns: 50, seed: 1 });
    expect([...seen].sort()).toEqual(['allow', 'both', 'deny', 'ipBlock', 'named', 'ns', 'pod', 'port', 'range']);
  });
});
