/**
 * The kernel variant of the differential property test (test/policy-property.test.ts): random
 * clusters and flows, as kubectl prints them, judged statelessly by every engine this machine can
 * run (`--engines all`: chain, maps and the kernel engines) must all agree with each other and with
 * the independent reference evaluator. Few runs: each builds real netfilter testbeds and bpf maps.
 * The generator is shared with the host-only variant (test/helpers/policy-arbitraries.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { parseEngineList } from '../src/engines/index.js';
import type { EngineName } from '../src/engines/engine.js';
import { judgeFlows } from '../src/verdict/judge.js';
import { gatedTitle, kernelTestGate, type KernelGate } from './helpers/netns.js';
import { flowsOf, scenarioArb, serialise, showFlow } from './helpers/policy-arbitraries.js';
import { referenceVerdict, refPacketOf } from './reference/evaluator.js';

const kernel = kernelTestGate();
let engines: EngineName[] = [];
let gate: KernelGate = kernel;
if (kernel.ok) {
  // aws gives the VPC CNI agent's own answer, which departs from Kubernetes by design (test/aws-engine.test.ts)
  engines = parseEngineList('all').filter((e) => e !== 'aws');
  const kernelEngines = engines.filter((e) => e !== 'chain' && e !== 'maps');
  if (kernelEngines.length === 0) gate = { ok: false, reason: 'no kernel engine available here (see pfsim doctor)' };
}

describe('random clusters: every available engine and the reference agree (kernel)', () => {
  it.skipIf(!gate.ok)(gatedTitle(`first packets of new connections, engines ${engines.join(',')}`, gate), () => {
    let flowsJudged = 0;
    fc.assert(fc.property(scenarioArb, (s) => {
      const { file, text } = serialise(s);
      const cluster = clusterFromText(file, text);
      const flows = flowsOf(s, cluster);
      const got = judgeFlows(cluster, flows, { engines, stateful: false });
      const bad: string[] = [];
      if (got.length !== flows.length) bad.push(`judgeFlows returned ${got.length} verdicts for ${flows.length} flows`);
      flows.forEach((f, i) => {
        const want = referenceVerdict(cluster, refPacketOf(f));
        const g = got[i];
        const wrong = !g || g.index !== i || !g.agree || g.verdict !== want || engines.some((e) => g.engines[e] !== want);
        if (wrong) {
          bad.push(`flow ${i} ${showFlow(f)}: reference ${want}, ${engines.map((e) => `${e} ${g?.engines[e]}`).join(', ')}`);
        }
      });
      flowsJudged += flows.length;
      if (bad.length > 0) throw new Error(`${bad.join('\n')}\n--- ${file}\n${text}`);
    }), { numRuns: 8, endOnFailure: true });
    expect(flowsJudged).toBeGreaterThanOrEqual(8 * 10);
  }, 300_000);
});
