/**
 * Random small clusters and flows for the differential property tests
 * (test/policy-property.test.ts, test/kernel-property.test.ts): fast-check arbitraries that
 * produce plain manifest objects as kubectl prints them, their YAML or JSON text, and flows
 * between the pods, nodes and external addresses of a generated cluster.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { Cluster } from '../../src/cluster/model.js';
import { cidrCovers, formatIp, parseCidr, type Cidr } from '../../src/net/ip.js';
import type { Flow } from '../../src/verdict/types.js';

type Manifest = Record<string, unknown>;

const LABEL_KEYS = ['app', 'tier', 'env'] as const;
const LABEL_VALUES = ['a', 'b', 'c'] as const;
const NS_NAMES = ['ns0', 'ns1', 'ns2'] as const;
const PORT_NAMES = ['http', 'dns', 'metrics'] as const;
const PORT_NUMBERS = [53, 80, 8080, 9090] as const;
const PROTOS = ['TCP', 'UDP', 'SCTP'] as const;

// address pools: pods take slots of 10.0.0.0/28 and fd00::/124, the rest of the pool is external
const POOL_SIZE = 16;
const v4Slot = (i: number) => `10.0.0.${i}`;
const v6Slot = (i: number) => `fd00::${i.toString(16)}`;
const NODES = [
  { name: 'node-1', internal: ['192.168.0.1', 'fd00:ff::1'], external: ['198.51.100.1'] },
  { name: 'node-2', internal: ['192.168.0.2'], external: [] as string[] },
] as const;
const V4_ADDRESSES = [
  ...Array.from({ length: POOL_SIZE }, (_, i) => v4Slot(i)),
  '192.168.0.1', '192.168.0.2', '198.51.100.1', '203.0.113.5', '10.200.0.1',
];
const V6_ADDRESSES = [...Array.from({ length: POOL_SIZE }, (_, i) => v6Slot(i)), 'fd00:ff::1', '2001:db8::5'];

const V4_BLOCKS = [
  '0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/28', '10.0.0.0/29', '10.0.0.8/29', '10.0.0.0/30', '10.0.0.4/30',
  '10.0.0.8/30', '10.0.0.12/30', '10.0.0.2/31', '10.0.0.6/31', '10.0.0.5/32', '10.0.0.9/32',
  '192.168.0.0/24', '192.168.0.1/32', '203.0.113.0/24', '198.51.100.0/24',
];
const V6_BLOCKS = [
  '::/0', 'fd00::/16', 'fd00::/124', 'fd00::/125', 'fd00::8/125', 'fd00::4/126', 'fd00::3/128',
  'fd00:ff::/64', '2001:db8::/32',
];

function cidrOf(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.why);
  return r.cidr;
}

/** except entries must lie strictly inside the block and share its family (the API server checks) */
function strictlyInside(outer: string, inner: string): boolean {
  const o = cidrOf(outer), i = cidrOf(inner);
  return o.family === i.family && cidrCovers(o, i) && i.len > o.len;
}

// ---- arbitraries: plain manifest objects, as kubectl prints them ----

const labelsArb = fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 3 });

function selectorArb(keys: readonly string[], values: readonly string[]): fc.Arbitrary<Manifest> {
  const requirement = fc.oneof(
    fc.record({
      key: fc.constantFrom(...keys),
      operator: fc.constantFrom('In', 'NotIn'),
      values: fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 2 }),
    }),
    fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
  );
  return fc.record({
    matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: 2 }),
    matchExpressions: fc.array(requirement, { maxLength: 2 }),
  }, { requiredKeys: [] });
}

const podSelectorArb = selectorArb(LABEL_KEYS, LABEL_VALUES);
const namespaceSelectorArb = selectorArb(
  [...LABEL_KEYS, 'kubernetes.io/metadata.name'], [...LABEL_VALUES, ...NS_NAMES]);

const ipBlockArb = fc.record({
  cidr: fc.constantFrom(...V4_BLOCKS, ...V6_BLOCKS),
  except: fc.uniqueArray(fc.constantFrom(...V4_BLOCKS, ...V6_BLOCKS), { maxLength: 3 }),
}).map(({ cidr, except }) => {
  const inside = except.filter((e) => strictlyInside(cidr, e));
  return inside.length > 0 ? { cidr, except: inside } : { cidr };
});

const peerArb: fc.Arbitrary<Manifest> = fc.oneof(
  fc.record({ podSelector: podSelectorArb }),
  fc.record({ namespaceSelector: namespaceSelectorArb }),
  fc.record({ podSelector: podSelectorArb, namespaceSelector: namespaceSelectorArb }),
  ipBlockArb.map((ipBlock) => ({ ipBlock })),
);

/** protocol left out half the time (the API defaults it to TCP) */
const protocolArb = fc.option(fc.constantFrom(...PROTOS), { nil: undefined });

const portArb: fc.Arbitrary<Manifest> = fc.oneof(
  fc.record({ protocol: protocolArb }),
  fc.record({ protocol: protocolArb, port: fc.constantFrom(53, 80, 1000, 8080, 9090) }),
  fc.record({ protocol: protocolArb, port: fc.constantFrom('http', 'dns', 'metrics', 'nope') }),
  fc.record({ protocol: protocolArb, port: fc.constantFrom(53, 80, 1000, 8000), width: fc.constantFrom(0, 1, 100, 8100) })
    .map(({ protocol, port, width }) => ({ protocol, port, endPort: port + width })),
);

function ruleArb(peerKey: 'from' | 'to'): fc.Arbitrary<Manifest> {
  return fc.record({
    peers: fc.option(fc.array(peerArb, { maxLength: 3 }), { nil: undefined }),
    ports: fc.option(fc.array(portArb, { maxLength: 3 }), { nil: undefined }),
  }).map(({ peers, ports }) => ({ [peerKey]: peers, ports }));
}

const policyArb = fc.record({
  ns: fc.nat(NS_NAMES.length - 1),
  podSelector: podSelectorArb,
  policyTypes: fc.constantFrom(undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress'], ['Egress', 'Ingress']),
  ingress: fc.option(fc.array(ruleArb('from'), { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(ruleArb('to'), { maxLength: 2 }), { nil: undefined }),
});

const podArb = fc.record({
  ns: fc.nat(NS_NAMES.length - 1),
  labels: labelsArb,
  // mostly IPv4 pods; some dual-stack, IPv6-only, host-network, or finished with no IP
  kind: fc.constantFrom('v4', 'v4', 'v4', 'dual', 'dual', 'v6', 'host', 'done'),
  node: fc.nat(NODES.length - 1),
  ports: fc.uniqueArray(fc.record({
    name: fc.constantFrom(...PORT_NAMES),
    containerPort: fc.constantFrom(...PORT_NUMBERS),
    protocol: protocolArb,
  }), { selector: (p) => p.name, maxLength: 3 }),
});

const namespaceArb = fc.record({
  labels: labelsArb,
  printNameLabel: fc.boolean(),
  printed: fc.constantFrom(true, true, true, false),
});

/** a flow end: mostly some pod's address, else any address of the family (pod, node or external) */
const endpointArb = fc.oneof(
  { weight: 3, arbitrary: fc.record({ pod: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ addr: fc.nat(V4_ADDRESSES.length - 1) }) },
);

const flowArb = fc.record({
  v6: fc.constantFrom(false, false, false, true),
  src: endpointArb,
  dst: endpointArb,
  proto: fc.constantFrom('TCP', 'TCP', 'UDP', 'SCTP', 'ICMP'),
  dport: fc.constantFrom(53, 80, 443, 1000, 1001, 1100, 1101, 8000, 8080, 9090, 9100),
});

export const scenarioArb = fc.record({
  namespaces: fc.array(namespaceArb, { minLength: 2, maxLength: 3 }),
  pods: fc.array(podArb, { minLength: 2, maxLength: 8 }),
  // which pool slot each pod takes: distinct, so no two pods share an address
  slots: fc.shuffledSubarray(Array.from({ length: POOL_SIZE }, (_, i) => i), { minLength: 8, maxLength: 8 }),
  node2Printed: fc.constantFrom(true, true, false),
  policies: fc.array(policyArb, { maxLength: 5 }),
  format: fc.constantFrom('yaml' as const, 'json-list' as const),
  flows: fc.array(flowArb, { minLength: 10, maxLength: 30 }),
});
export type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Drops undefined fields and empty label maps so the manifest reads like kubectl output. */
function clean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clean);
  if (v !== null && typeof v === 'object') {
    const out: Manifest = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = clean(x);
    return out;
  }
  return v;
}

function manifests(s: Scenario): Manifest[] {
  const out: Manifest[] = [];
  NODES.forEach((n, i) => {
    if (i === 1 && !s.node2Printed) return;
    out.push({
      apiVersion: 'v1', kind: 'Node', metadata: { name: n.name },
      status: { addresses: [
        ...n.internal.map((address) => ({ address, type: 'InternalIP' })),
        ...n.external.map((address) => ({ address, type: 'ExternalIP' })),
        { address: n.name, type: 'Hostname' },
      ] },
    });
  });
  s.namespaces.forEach((ns, i) => {
    if (!ns.printed) return;
    const name = NS_NAMES[i]!;
    const labels = ns.printNameLabel ? { ...ns.labels, 'kubernetes.io/metadata.name': name } : ns.labels;
    out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(Object.keys(labels).length > 0 ? { labels } : {}) } });
  });
  s.pods.forEach((p, i) => {
    const node = NODES[p.node]!;
    const slot = s.slots[i]!;
    const ips = p.kind === 'v4' ? [v4Slot(slot)]
      : p.kind === 'dual' ? [v4Slot(slot), v6Slot(slot)]
        : p.kind === 'v6' ? [v6Slot(slot)]
          : p.kind === 'host' ? [...node.internal]
            : [];
    out.push({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `pod${i}`, namespace: NS_NAMES[p.ns % s.namespaces.length], ...(Object.keys(p.labels).length > 0 ? { labels: p.labels } : {}) },
      spec: {
        nodeName: node.name,
        hostNetwork: p.kind === 'host' ? true : undefined,
        containers: [{ name: 'main', image: 'busybox', ...(p.ports.length > 0 ? { ports: p.ports } : {}) }],
      },
      status: ips.length > 0
        ? { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) }
        : { phase: 'Succeeded' },
    });
  });
  s.policies.forEach((np, i) => {
    out.push({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
      metadata: { name: `np${i}`, namespace: NS_NAMES[np.ns % s.namespaces.length] },
      spec: { podSelector: np.podSelector, policyTypes: np.policyTypes, ingress: np.ingress, egress: np.egress },
    });
  });
  return out.map((m) => clean(m) as Manifest);
}

export function serialise(s: Scenario): { file: string; text: string } {
  const docs = manifests(s);
  if (s.format === 'json-list') {
    return { file: 'random.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs, metadata: { resourceVersion: '' } }, null, 2) };
  }
  return { file: 'random.yaml', text: docs.map((d) => stringify(d)).join('---\n') };
}

export function flowsOf(s: Scenario, cluster: Cluster): Flow[] {
  const podAddrs = (v6: boolean) => cluster.pods.flatMap((p) => p.ips)
    .map(formatIp).filter((a) => a.includes(':') === v6);
  return s.flows.map((f, i) => {
    const pool = f.v6 ? V6_ADDRESSES : V4_ADDRESSES;
    const pods = podAddrs(f.v6);
    const pick = (e: { pod: number } | { addr: number }) =>
      'pod' in e && pods.length > 0 ? pods[e.pod % pods.length]! : pool[('pod' in e ? e.pod : e.addr) % pool.length]!;
    const src = pick(f.src);
    let dst = pick(f.dst);
    // a pod talking to itself is outside these rules (a pod cannot block access to itself)
    if (dst === src) dst = pool[(pool.indexOf(src) + 1) % pool.length]!;
    if (f.proto === 'ICMP') return { src, dst, proto: f.v6 ? 'ICMPv6' : 'ICMP' };
    return { src, dst, proto: f.proto, sport: 30000 + i, dport: f.dport };
  });
}

export function showFlow(f: Flow): string {
  return `${f.proto} ${f.src}${f.sport !== undefined ? `:${f.sport}` : ''} -> ${f.dst}${f.dport !== undefined ? `:${f.dport}` : ''}`;
}
