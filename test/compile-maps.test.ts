import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import { renderMaps } from '../src/compile/mapsdump.js';
import { normalizePorts } from '../src/compile/maps.js';
import { PROTO_ANY } from '../src/compile/plan.js';
import { demoClusterYaml, DEMO_POLICIES } from '../src/demo/cluster.js';

const server = (extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, labels: {app: server}}
spec: {nodeName: n1}
status: {podIP: 10.1.0.1}
${extra}`;

const policy = (ingress: string) => `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
${ingress}`;

describe('maps compiler', () => {
  it('except-no-inherit: an except hole keeps the rules of other blocks that cover it', () => {
    const plan = compile(clusterFromText('t.yaml', server() + policy(`  - from: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{protocol: UDP, port: 53}]
  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.5.0/24]}}]
    ports: [{protocol: TCP, port: 80}]`)));
    const trie = plan.maps.tries[0]!;
    const table = Object.fromEntries(trie.entries.map((e) => [e.prefix, plan.maps.values[e.value]]));
    expect(table).toEqual({
      '0.0.0.0/0': [{ proto: 17, start: 53, end: 53 }],
      '10.0.0.0/16': [{ proto: 6, start: 80, end: 80 }, { proto: 17, start: 53, end: 53 }],
      '10.0.5.0/24': [{ proto: 17, start: 53, end: 53 }],
    });
  });

  it('an except hole under nothing else gets an explicit empty value', () => {
    const plan = compile(clusterFromText('t.yaml', server() + policy(`  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}}]`)));
    const e = plan.maps.tries[0]!.entries.find((x) => x.prefix === '10.9.0.0/16')!;
    expect(plan.maps.values[e.value]).toEqual([]);
  });

  it('an IPv6 ::/0 block does not cover IPv4 (the IPv4-mapped range is a hole)', () => {
    const plan = compile(clusterFromText('t.yaml', server() + policy(`  - from: [{ipBlock: {cidr: "::/0"}}]`)));
    const table = Object.fromEntries(plan.maps.tries[0]!.entries.map((e) => [e.prefix, plan.maps.values[e.value]]));
    expect(table['::/0']).toEqual([{ proto: PROTO_ANY, start: 0, end: 65535 }]);
    expect(table['0.0.0.0/0']).toEqual([]);
  });

  it('normalizes port entries: merge overlaps and neighbours, ANY absorbs everything', () => {
    expect(normalizePorts([{ proto: 6, start: 80, end: 80 }, { proto: 6, start: 81, end: 90 }, { proto: 17, start: 1, end: 5 }, { proto: 6, start: 85, end: 100 }]))
      .toEqual([{ proto: 6, start: 80, end: 100 }, { proto: 17, start: 1, end: 5 }]);
    expect(normalizePorts([{ proto: 6, start: 80, end: 80 }, { proto: PROTO_ANY, start: 0, end: 65535 }])).toEqual([{ proto: PROTO_ANY, start: 0, end: 65535 }]);
  });

  it('the dump names keys, entries and the policies behind them', () => {
    const text = [demoClusterYaml(), DEMO_POLICIES[0]!.yaml, DEMO_POLICIES[2]!.yaml].join('---\n');
    const dump = renderMaps(compile(clusterFromText('demo', text)));
    expect(dump).toMatch(/map lpm_ingress_\d+ +type lpm_trie .*# ingress of default\/demo-app/);
    expect(dump).toMatch(/key: 10\.244\.0\.11\/32 +value: ANY:ANY +# default\/demo-app-allow-client-one/);
    expect(dump).toMatch(/key: 172\.18\.0\.2\/32 +value: ANY:ANY +# node\/demo-node/);
  });
});

describe('plan determinism', () => {
  it('the same cluster in any document order gives a byte-identical plan', () => {
    const docs = [demoClusterYaml(), ...DEMO_POLICIES.map((p) => p.yaml)].join('---\n').split('---\n');
    const a = JSON.stringify(compile(clusterFromText('a', docs.join('---\n'))));
    const b = JSON.stringify(compile(clusterFromText('b', [...docs].reverse().join('---\n'))));
    expect(b).toBe(a);
  });
});
