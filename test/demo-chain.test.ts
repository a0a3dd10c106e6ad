import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import { ChainEngine } from '../src/engines/chain.js';
import { OUT_WORDS, verdictName } from '../src/engines/engine.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { flowToPacket } from '../src/verdict/flows.js';
import { DEMO_CLIENTS, demoClusterYaml, demoFlows, demoPolicySets } from '../src/demo/cluster.js';


// the seed article's answer: who reaches demo-app under each policy set
const EXPECTED: Record<string, string[]> = {
  'no policy': ['client-one', 'client-two', 'another-client-one', 'another-client-two'],
  'deny-all': [],
  'deny-all + allow-samens': ['client-one', 'client-two'],
  'deny-all + allow-client-one': ['client-one'],
  'deny-all + allow-another-ns': ['another-client-one', 'another-client-two'],
  'deny-all + allow-another-client-one': ['another-client-one'],
};

describe('demo through the chain engine', () => {
  for (const set of demoPolicySets()) {
    it(`policy set "${set.name}"`, () => {
      const cluster = clusterFromText('demo', [demoClusterYaml(), ...set.policies.map((p) => p.yaml)].join('---\n'));
      const plan = compile(cluster);
      const engine = new ChainEngine(plan, { stateful: false });
      const flows = demoFlows();
      const pkts = packetBatch(flows.length);
      flows.forEach((f, i) => writePacket(pkts, i, flowToPacket(f, 'x')));
      const out = new Uint32Array(flows.length * OUT_WORDS);
      engine.classify(pkts, flows.length, out);
      const reached = DEMO_CLIENTS.filter((_, i) => {
        const v4 = verdictName(out[2 * i * OUT_WORDS]!), v6 = verdictName(out[(2 * i + 1) * OUT_WORDS]!);
        expect(v4).toBe(v6);
        return v4 === 'allow';
      }).map((c) => c.name);
      expect(reached).toEqual(EXPECTED[set.name]);
      if (set.name === 'deny-all') expect(engine.describe(pkts, out, 0)).toBe('default deny ingress default/demo-app-6d8f7c9b5-x7k2p');
      if (set.name === 'deny-all + allow-samens') expect(engine.describe(pkts, out, 0)).toBe('allowed by default/demo-app-allow-samens ingress');
      if (set.name === 'no policy') expect(engine.describe(pkts, out, 0)).toBe('not isolated');
    });
  }
});
