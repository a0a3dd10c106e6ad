/**
 * The aws engine: the VPC CNI network-policy agent's map builder and tc programs, mirrored, and
 * the departure codes it gives where its verdict differs from Kubernetes semantics (the maps and
 * chain engines, and the independent reference evaluator).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXED_VIEW_IPV4_OPTIONS, FIXED_VIEW_LATER_FRAGMENT, FIXED_VIEW_SHORT, FIXED_VIEW_VALID, META_FIXED_INFO, META_FIXED_PORTS,
  META_WORDS, openCapture,
} from '../src/capture/reader.js';
import { fragmentPacket, frame, ipPacket, ipv4RecordRoute, LINKTYPE_ETHERNET, type IpPacketOptions } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster } from '../src/cluster/model.js';
import type { AwsEntry, AwsMode } from '../src/compile/aws.js';
import { compile } from '../src/compile/index.js';
import type { Plan } from '../src/compile/plan.js';
import { AwsEngine } from '../src/engines/aws.js';
import { DEPARTURE_CODES } from '../src/engines/aws-departure.js';
import { type EngineName, OUT_WORDS, verdictName } from '../src/engines/engine.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { cidrCovers, parseCidr } from '../src/net/ip.js';
import { flowToPacket } from '../src/verdict/flows.js';
import { judgePlan } from '../src/verdict/judge.js';
import { departures } from '../src/verdict/departures.js';
import { type PacketVerdict, replayCapture } from '../src/verdict/replay.js';
import type { Flow, FlowVerdict } from '../src/verdict/types.js';
import { referenceVerdict, refPacketOf } from './reference/evaluator.js';

// ---- a small cluster, written as kubectl prints it ----

const WEB = { v4: '10.1.0.10', v6: 'fd00:1::10' };
const CLIENT = { v4: '10.1.0.11', v6: 'fd00:1::11' };
const DB = { v4: '10.1.0.12', v6: 'fd00:1::12' };
const NODE_V4 = '192.168.1.1';
const NODE_V4_SECOND = '192.168.1.2';
const NODE_V6 = 'fd00:ff::1';

type PeerSpec = { cidr: string; except?: readonly string[] } | { app: string };
interface PortSpec { protocol?: 'TCP' | 'UDP' | 'SCTP'; port?: number | string; endPort?: number }
interface RuleSpec { peers?: readonly PeerSpec[]; ports?: readonly PortSpec[] }
interface PolicySpec {
  name: string;
  app: string;
  types: readonly ('Ingress' | 'Egress')[];
  ingress?: readonly RuleSpec[];
  egress?: readonly RuleSpec[];
}

function clusterYaml(policies: readonly PolicySpec[], nodeIps: readonly string[] = [NODE_V4, NODE_V6]): string {
  const pod = (name: string, a: { v4: string; v6: string }, ports = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: {app: ${name}}}
spec: {nodeName: n1, containers: [{name: c, image: x${ports}}]}
status: {phase: Running, podIP: ${a.v4}, podIPs: [{ip: ${a.v4}}, {ip: ${a.v6}}]}
`;
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: {kubernetes.io/metadata.name: default}}\n',
    `apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [${nodeIps.map((a) => `{type: InternalIP, address: "${a}"}`).join(', ')}]}\n`,
    pod('web', WEB, ', ports: [{name: http, containerPort: 80}, {name: dns, containerPort: 53, protocol: UDP}]'),
    pod('client', CLIENT),
    pod('db', DB, ', ports: [{name: http, containerPort: 8080}]'),
  ];
  for (const p of policies) {
    const rules = (rs: readonly RuleSpec[] | undefined, key: 'from' | 'to') => (rs ?? []).map((r) => ({
      ...(r.peers ? { [key]: r.peers.map((x) => ('app' in x ? { podSelector: { matchLabels: { app: x.app } } } : { ipBlock: x.except ? { cidr: x.cidr, except: x.except } : { cidr: x.cidr } })) } : {}),
      ...(r.ports ? { ports: r.ports } : {}),
    }));
    docs.push(JSON.stringify({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name, namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { app: p.app } }, policyTypes: p.types,
        ...(p.ingress ? { ingress: rules(p.ingress, 'from') } : {}), ...(p.egress ? { egress: rules(p.egress, 'to') } : {}),
      },
    }) + '\n');
  }
  return docs.join('---\n');
}

function clusterOf(policies: readonly PolicySpec[], nodeIps?: readonly string[]): Cluster {
  return clusterFromText('aws-test.yaml', clusterYaml(policies, nodeIps));
}

function judge(cluster: Cluster, flows: readonly Flow[], engines: EngineName[] = ['maps', 'chain', 'aws'], stateful = false): FlowVerdict[] {
  return judgePlan(compile(cluster), flows, { engines, stateful });
}

function entryOf(plan: Plan, pod: string, dir: 'ingress' | 'egress', family: 4 | 6, prefix: string): AwsEntry | undefined {
  const id = plan.pods.find((p) => p.name === pod)!.id;
  return plan.aws!.tries.find((t) => t.pod === id && t.dir === dir && t.family === family)?.entries.find((e) => e.prefix === prefix);
}

const tcp = (src: string, dst: string, dport: number): Flow => ({ src, dst, proto: 'TCP', sport: 40000, dport });
const udp = (src: string, dst: string, dport: number): Flow => ({ src, dst, proto: 'UDP', sport: 40000, dport });

// ---- the agent's map builder and the departures it leads to ----

describe('aws engine: departures from Kubernetes semantics, by reason', () => {
  it('the known case: 0.0.0.0/0 UDP 53 and 10.0.0.0/16 except 10.0.5.0/24 TCP 80 deny UDP 53 from 10.0.5.9 (except-no-inherit)', () => {
    const cluster = clusterOf([{
      name: 'web-in', app: 'web', types: ['Ingress'], ingress: [
        { peers: [{ cidr: '0.0.0.0/0' }], ports: [{ protocol: 'UDP', port: 53 }] },
        { peers: [{ cidr: '10.0.0.0/16', except: ['10.0.5.0/24'] }], ports: [{ protocol: 'TCP', port: 80 }] },
      ],
    }]);
    const plan = compile(cluster);
    // the except CIDR gets the reserved deny-all entry; the /16 inherits the /0's UDP 53
    expect(entryOf(plan, 'web', 'ingress', 4, '10.0.5.0/24')).toMatchObject({ kind: 'except', slots: [{ proto: 255, start: 0, end: 0 }], notes: ['except-no-inherit'] });
    expect(entryOf(plan, 'web', 'ingress', 4, '10.0.0.0/16')?.slots).toEqual([{ proto: 6, start: 80, end: 0 }, { proto: 17, start: 53, end: 0 }]);
    const flows = [udp('10.0.5.9', WEB.v4, 53), tcp('10.0.5.9', WEB.v4, 80), udp('10.0.6.9', WEB.v4, 53), tcp('10.0.6.9', WEB.v4, 80), udp('8.8.8.8', WEB.v4, 53)];
    const got = judge(cluster, flows);
    expect(got.map((v) => v.engines)).toEqual([
      { maps: 'allow', chain: 'allow', aws: 'deny' },
      { maps: 'deny', chain: 'deny', aws: 'deny' },
      { maps: 'allow', chain: 'allow', aws: 'allow' },
      { maps: 'allow', chain: 'allow', aws: 'allow' },
      { maps: 'allow', chain: 'allow', aws: 'allow' },
    ]);
    expect(got.map((v) => v.departure)).toEqual(['except-no-inherit', undefined, undefined, undefined, undefined]);
    // an explained departure is not a disagreement between the Kubernetes engines
    expect(got.every((v) => v.agree)).toBe(true);
    expect(flows.map((f) => referenceVerdict(cluster, refPacketOf(f)))).toEqual(got.map((v) => v.engines['maps']));
  });

  it('a CIDR with 30 distinct port rules: the agent writes 24 slots, the newest rule\'s ports first (port-slots-exceeded)', () => {
    const ports = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ protocol: 'TCP' as const, port: from + i }));
    const cluster = clusterOf([
      { name: 'a-older', app: 'web', types: ['Ingress'], ingress: [{ peers: [{ cidr: '10.9.0.0/16' }], ports: ports(1001, 1020) }] },
      { name: 'b-newer', app: 'web', types: ['Ingress'], ingress: [{ peers: [{ cidr: '10.9.0.0/16' }], ports: ports(1021, 1030) }] },
    ]);
    const plan = compile(cluster);
    const e = entryOf(plan, 'web', 'ingress', 4, '10.9.0.0/16')!;
    // rules are merged in policy order, each new one in front: b's 10 ports, then a's first 14
    const kept = [...ports(1021, 1030), ...ports(1001, 1014)].map((p) => ({ proto: 6, start: p.port, end: 0 }));
    expect(e.slots).toEqual(kept);
    expect(e.dropped).toEqual(ports(1015, 1020).map((p) => ({ proto: 6, start: p.port, end: 0 })));
    expect(e.notes).toEqual(['port-slots-exceeded']);
    const flows = [1001, 1014, 1015, 1020, 1021, 1030, 1031].map((p) => tcp('10.9.1.1', WEB.v4, p));
    const got = judge(cluster, flows);
    expect(got.map((v) => v.engines['maps'])).toEqual(['allow', 'allow', 'allow', 'allow', 'allow', 'allow', 'deny']);
    expect(got.map((v) => v.engines['aws'])).toEqual(['allow', 'allow', 'deny', 'deny', 'allow', 'allow', 'deny']);
    expect(got.map((v) => v.departure)).toEqual([undefined, undefined, 'port-slots-exceeded', 'port-slots-exceeded', undefined, undefined, undefined]);
  });

  it('a CIDR whose network address an except of a covering block holds inherits none of that block\'s ports (except-network-address)', () => {
    const cluster = clusterOf([{
      name: 'web-in', app: 'web', types: ['Ingress'], ingress: [
        { peers: [{ cidr: '10.0.0.0/16', except: ['10.0.5.0/25'] }], ports: [{ protocol: 'UDP', port: 53 }] },
        { peers: [{ cidr: '10.0.5.0/24' }], ports: [{ protocol: 'TCP', port: 443 }] },
      ],
    }]);
    const got = judge(cluster, [udp('10.0.5.200', WEB.v4, 53), udp('10.0.5.9', WEB.v4, 53), tcp('10.0.5.200', WEB.v4, 443), tcp('10.0.5.9', WEB.v4, 443)]);
    expect(got.map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['allow', 'deny', 'except-network-address'],
      ['deny', 'deny', undefined],
      ['allow', 'allow', undefined],
      ['allow', 'deny', 'except-no-inherit'],
    ]);
  });

  it('ports inherited through a CIDR that inherited them from a block excepting the address bypass the except (except-inherited-through)', () => {
    const cluster = clusterOf([{
      name: 'web-in', app: 'web', types: ['Ingress'], ingress: [
        { peers: [{ cidr: '10.0.0.0/8', except: ['10.1.1.0/24'] }], ports: [{ protocol: 'TCP', port: 80 }] },
        { peers: [{ cidr: '10.1.0.0/16' }], ports: [{ protocol: 'UDP', port: 53 }] },
        { peers: [{ cidr: '10.1.1.0/24' }], ports: [{ protocol: 'TCP', port: 443 }] },
      ],
    }]);
    const got = judge(cluster, [tcp('10.1.1.5', WEB.v4, 80), tcp('10.1.1.5', WEB.v4, 443), udp('10.1.1.5', WEB.v4, 53), tcp('10.1.2.5', WEB.v4, 80)]);
    expect(got.map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['deny', 'allow', 'except-inherited-through'],
      ['allow', 'allow', undefined],
      ['allow', 'allow', undefined],
      ['allow', 'allow', undefined],
    ]);
  });

  it('the agent allows one node IP per family: another InternalIP of the node is judged by policy (node-ip-secondary)', () => {
    const cluster = clusterOf([{ name: 'deny', app: 'web', types: ['Ingress', 'Egress'] }], [NODE_V4, NODE_V4_SECOND, NODE_V6]);
    const got = judge(cluster, [tcp(NODE_V4, WEB.v4, 8080), tcp(NODE_V4_SECOND, WEB.v4, 8080), tcp(NODE_V6, WEB.v6, 8080), tcp(WEB.v4, NODE_V4_SECOND, 10250)]);
    expect(got.map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['allow', 'allow', undefined],
      ['allow', 'deny', 'node-ip-secondary'],
      ['allow', 'allow', undefined],
      ['allow', 'deny', 'node-ip-secondary'],
    ]);
  });

  it('strict mode: a pod no policy selects denies everything, its node too (strict-default-deny); standard allows', () => {
    const cluster = clusterOf([{ name: 'web-in', app: 'web', types: ['Ingress'], ingress: [{ peers: [{ app: 'client' }] }] }]);
    const flows = [tcp(CLIENT.v4, WEB.v4, 80), tcp(CLIENT.v4, DB.v4, 5432), tcp(NODE_V4, DB.v4, 5432), tcp(WEB.v4, '8.8.8.8', 443)];
    const plan = compile(cluster);
    const run = (mode: AwsMode) => {
      const e = new AwsEngine(plan, { stateful: false, awsMode: mode });
      try {
        return judgeWith(e, flows);
      } finally {
        e.close();
      }
    };
    // client's egress and db's ingress: no policy selects them
    expect(run('strict')).toEqual([['deny', 'strict-default-deny'], ['deny', 'strict-default-deny'], ['deny', 'strict-default-deny'], ['allow', undefined]]);
    expect(run('standard')).toEqual([['allow', undefined], ['allow', undefined], ['allow', undefined], ['allow', undefined]]);
    // the mode travels in the plan (pool workers get the plan, not engine options)
    expect(plan.aws!.mode).toBe('standard');
    expect(compile(cluster).aws!.pods.find((p) => p.pod === plan.pods.find((x) => x.name === 'web')!.id)!.applied).toBe(true);
  });

  it('a direction no policy isolates gets the controller\'s catch-all; an isolated one without rules only the node', () => {
    const plan = compile(clusterOf([{ name: 'web-in', app: 'web', types: ['Ingress'], ingress: [{ peers: [{ app: 'client' }], ports: [{ port: 'http' }] }] }]));
    const web = plan.pods.find((p) => p.name === 'web')!.id;
    const trie = (dir: string, family: number) => plan.aws!.tries.find((t) => t.pod === web && t.dir === dir && t.family === family)!;
    expect(trie('egress', 4).entries.map((e) => [e.prefix, e.kind, e.slots])).toEqual([
      ['0.0.0.0/0', 'rule', [{ proto: 254, start: 0, end: 0 }]],
      [`${NODE_V4}/32`, 'node', [{ proto: 254, start: 0, end: 0 }]],
    ]);
    // the named port resolved on web itself, TCP by default
    expect(trie('ingress', 4).entries.map((e) => [e.prefix, e.slots])).toEqual([
      [`${CLIENT.v4}/32`, [{ proto: 6, start: 80, end: 0 }]],
      [`${NODE_V4}/32`, [{ proto: 254, start: 0, end: 0 }]],
    ]);
    // pods no policy selects get no tries: their pod state decides
    expect(plan.aws!.tries.every((t) => t.pod === web)).toBe(true);
  });

  it('conntrack keyed per owner pod: a reply finds its pod\'s entry; an entry of a packet the other pod dropped lets the reverse through (ct-half-open)', () => {
    // client may send to web:80; web's ingress allows nothing from client; client's ingress only TCP 9000
    const cluster = clusterOf([
      { name: 'client-out', app: 'client', types: ['Ingress', 'Egress'], ingress: [{ ports: [{ port: 9000 }] }], egress: [{ peers: [{ app: 'web' }], ports: [{ port: 80 }] }] },
      { name: 'web-in', app: 'web', types: ['Ingress'], ingress: [{ peers: [{ app: 'db' }] }] },
    ]);
    const out = tcp(CLIENT.v4, WEB.v4, 80);
    const back: Flow = { src: WEB.v4, dst: CLIENT.v4, proto: 'TCP', sport: 80, dport: 40000 };
    const got = judge(cluster, [out, back], ['maps', 'aws'], true);
    expect(got.map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['deny', 'deny', undefined],
      // maps judges it as a new connection: client's ingress denies it; the agent finds client's
      // own entry from the dropped first packet, through the swapped key
      ['deny', 'allow', 'ct-half-open'],
    ]);
  });
});

/** The aws engine's verdict and departure for each flow, statelessly. */
function judgeWith(e: AwsEngine, flows: readonly Flow[]): [string, string | undefined][] {
  const pkts = packetBatch(Math.max(flows.length, 1));
  flows.forEach((f, i) => writePacket(pkts, i, flowToPacket(f, `flow ${i}`)));
  const out = new Uint32Array(Math.max(flows.length, 1) * OUT_WORDS);
  e.classify(pkts, flows.length, out);
  return flows.map((_, i) => [verdictName(out[i * OUT_WORDS]!), e.departure(out, i)]);
}

// ---- packets the agent reads at its fixed L4 offset: real frames through the capture reader ----

describe('aws engine: real frames through the capture reader', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pfsim-aws-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function capture(name: string, datagrams: readonly Uint8Array[]): string {
    const file = join(dir, name);
    const w = new PcapWriter(file, { linkType: LINKTYPE_ETHERNET });
    datagrams.forEach((d, i) => w.writePacket(1_700_000_000_000_000_000n + BigInt(i) * 1000n, frame(LINKTYPE_ETHERNET, d)));
    w.close();
    return file;
  }

  function replay(cluster: Cluster, file: string, engines: EngineName[] = ['maps', 'aws']): PacketVerdict[] {
    const out: PacketVerdict[] = [];
    replayCapture(compile(cluster), file, engines, { packet: (v) => out.push(v) });
    return out;
  }

  /** the fixed-offset view the reader gives each packet: [ports, info] */
  function views(file: string): [number, number][] {
    const got: [number, number][] = [];
    for (const b of openCapture(file)) {
      for (let i = 0; i < b.count; i++) got.push([b.meta[i * META_WORDS + META_FIXED_PORTS]!, b.meta[i * META_WORDS + META_FIXED_INFO]!]);
    }
    return got;
  }

  /** the META_FIXED_PORTS word: sport << 16 | dport, unsigned */
  const ports = (sport: number, dport: number) => ((sport << 16) | dport) >>> 0;
  const webIn = (p: PortSpec[]) => clusterOf([{ name: 'web-in', app: 'web', types: ['Ingress'], ingress: [{ peers: [{ app: 'client' }], ...(p.length > 0 ? { ports: p } : {}) }] }]);

  it('IPv4 options: the agent reads the ports inside the options, both ways (l4-offset-options)', () => {
    // NOP, Record Route (length 3, pointer 4): the agent reads sport 0x0107, dport 0x0304 = 772
    const opts = ipv4RecordRoute(0);
    const syn = (dport: number, ipOptions?: Uint8Array): IpPacketOptions => ({ src: CLIENT.v4, dst: WEB.v4, proto: 'TCP', sport: 40000, dport, ...(ipOptions ? { ipOptions } : {}) });
    const file = capture('options.pcap', [ipPacket(syn(80, opts)), ipPacket(syn(80)), ipPacket({ ...syn(22, opts), sport: 40001 })]);
    expect(views(file)).toEqual([
      [ports(0x0107, 772), FIXED_VIEW_VALID | FIXED_VIEW_IPV4_OPTIONS | 6],
      [ports(40000, 80), FIXED_VIEW_VALID | 6],
      [ports(0x0107, 772), FIXED_VIEW_VALID | FIXED_VIEW_IPV4_OPTIONS | 6],
    ]);
    // TCP 80 allowed: the options packet is denied by the agent (it reads 772)
    expect(replay(webIn([{ port: 80 }]), file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['allow', 'deny', 'l4-offset-options'],
      ['allow', 'allow', undefined],
      ['deny', 'deny', undefined],
    ]);
    // TCP 772 allowed: the agent lets an options packet to port 22 through
    expect(replay(webIn([{ port: 772 }]), file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['deny', 'allow', 'l4-offset-options'],
      ['deny', 'deny', undefined],
      ['deny', 'allow', 'l4-offset-options'],
    ]);
  });

  it('later IPv4 fragments: the agent reads ports from the payload, or passes a short one unjudged (fragment-ports)', () => {
    // a UDP datagram to port 5353 in 16-byte fragments; the second fragment's payload starts
    // with 0x9c40 0x0035, which the agent takes for sport 40000, dport 53
    const payload = new Uint8Array(24);
    payload.set([0x9c, 0x40, 0x00, 0x35], 8);
    const frags = fragmentPacket({ src: CLIENT.v4, dst: WEB.v4, proto: 'UDP', sport: 40000, dport: 5353, id: 7, payload }, 16);
    expect(frags).toHaveLength(2);
    const file = capture('fragments.pcap', frags);
    const [first, later] = views(file);
    expect(first).toEqual([ports(40000, 5353), FIXED_VIEW_VALID | 17]);
    expect(later).toEqual([ports(40000, 53), FIXED_VIEW_VALID | FIXED_VIEW_LATER_FRAGMENT | 17]);
    // only UDP 53 allowed: Kubernetes denies both fragments (they are UDP 5353), the agent lets the second through
    expect(replay(webIn([{ protocol: 'UDP', port: 53 }]), file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['deny', 'deny', undefined],
      ['deny', 'allow', 'fragment-ports'],
    ]);
    // a TCP header needs 20 bytes at the fixed offset: a TCP datagram's 8-byte tail passes unjudged
    const tcpFrags = fragmentPacket({ src: CLIENT.v4, dst: WEB.v4, proto: 'TCP', sport: 40001, dport: 22, id: 8, payload: new Uint8Array(12) }, 24);
    const tail = tcpFrags[tcpFrags.length - 1]!;
    const file2 = capture('tcp-fragments.pcap', tcpFrags);
    expect(views(file2).at(-1)![1]).toBe(FIXED_VIEW_VALID | FIXED_VIEW_LATER_FRAGMENT | FIXED_VIEW_SHORT | 6);
    expect(tail.length).toBe(20 + 8);
    const got = replay(webIn([{ port: 80 }]), file2);
    expect(got.at(-1)).toMatchObject({ engines: { maps: 'deny', aws: 'allow' }, departure: 'fragment-ports' });
    expect(got[0]).toMatchObject({ engines: { maps: 'deny', aws: 'deny' } });
  });

  it('ICMPv6 passes the agent\'s IPv6 programs always; behind a hop-by-hop header it is protocol 0 (icmpv6-always, ipv6-ext-headers)', () => {
    const echo = (ext?: IpPacketOptions['ext']): Uint8Array => ipPacket({ src: CLIENT.v6, dst: WEB.v6, proto: 'ICMP', ...(ext ? { ext } : {}) });
    const file = capture('icmpv6.pcap', [echo(), echo(['hop']), ipPacket({ src: CLIENT.v6, dst: WEB.v6, proto: 'UDP', sport: 40000, dport: 53, ext: ['dst'] })]);
    // web denies all ingress: ICMPv6 still passes the agent
    const denyAll = clusterOf([{ name: 'deny', app: 'web', types: ['Ingress'] }]);
    expect(replay(denyAll, file).map((v) => [v.proto, v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['ICMPv6', 'deny', 'allow', 'icmpv6-always'],
      ['ICMPv6', 'deny', 'deny', undefined],
      ['UDP', 'deny', 'deny', undefined],
    ]);
    // web allows TCP 80 from client: the hop-by-hop packet reads as protocol 0, which the
    // value's empty slots match; the UDP packet reads as protocol 60 and matches nothing
    const allow80 = webIn([{ port: 80 }]);
    expect(replay(allow80, file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['deny', 'allow', 'icmpv6-always'],
      ['deny', 'allow', 'ipv6-ext-headers'],
      ['deny', 'deny', undefined],
    ]);
    const allowAll = webIn([]);
    expect(replay(allowAll, file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['allow', 'allow', undefined],
      ['allow', 'allow', undefined],
      ['allow', 'allow', undefined],
    ]);
    const udp53 = webIn([{ protocol: 'UDP', port: 53 }]);
    expect(replay(udp53, file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure]).at(2)).toEqual(['allow', 'deny', 'ipv6-ext-headers']);
  });

  it('TCP flags open nothing for the agent\'s conntrack: a SYN-ACK of a denied connection lets the client\'s ACKs in (ct-any-packet-opens)', () => {
    const t = (src: string, dst: string, sport: number, dport: number, tcpFlags: IpPacketOptions['tcpFlags']) => ipPacket({ src, dst, proto: 'TCP', sport, dport, tcpFlags });
    const file = capture('handshake.pcap', [
      t(CLIENT.v4, WEB.v4, 40000, 80, ['SYN']),
      t(WEB.v4, CLIENT.v4, 80, 40000, ['SYN', 'ACK']),
      t(CLIENT.v4, WEB.v4, 40000, 80, ['ACK']),
    ]);
    const denyAll = clusterOf([{ name: 'deny', app: 'web', types: ['Ingress'] }]);
    expect(replay(denyAll, file).map((v) => [v.engines['maps'], v.engines['aws'], v.departure])).toEqual([
      ['deny', 'deny', undefined],
      ['allow', 'allow', undefined],
      ['deny', 'allow', 'ct-any-packet-opens'],
    ]);
    // the same through departures(), the bench's summary
    expect(departures(compile(denyAll), file, { workload: 'unit', scale: 1 })).toEqual([
      { workload: 'unit', scale: 1, reason: 'ct-any-packet-opens', packets: 1, example: `TCP ${CLIENT.v4}:40000 -> ${WEB.v4}:80` },
    ]);
  });
});

// ---- property tests: random clusters around the agent's builder ----

const V4_CIDRS = ['0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/16', '10.0.5.0/24', '10.0.5.0/25', '10.0.5.128/25', '10.0.5.9/32', '10.1.0.0/16', '10.1.0.0/24', '10.1.0.8/29', '10.1.0.11/32', '192.168.1.0/24', '192.168.1.1/32'];
const V6_CIDRS = ['::/0', 'fd00::/16', 'fd00:0:0:5::/64', 'fd00:0:0:5::/96', 'fd00:0:0:5::9/128', 'fd00:1::/64', 'fd00:1::11/128'];
const ADDRS_V4 = [WEB.v4, CLIENT.v4, DB.v4, '10.0.5.9', '10.0.5.200', '10.0.6.1', '10.1.1.1', '10.2.0.1', NODE_V4, NODE_V4_SECOND, '8.8.8.8'];
const ADDRS_V6 = [WEB.v6, CLIENT.v6, DB.v6, 'fd00:0:0:5::9', 'fd00:0:0:5::1:1', 'fd00:0:0:6::1', 'fd00:1::99', NODE_V6, '2001:db8::1'];
const APPS = ['web', 'client', 'db'] as const;
const DPORTS = [22, 53, 80, 443, 1000, 1005, 8080];

/** an except must lie strictly inside its block, in its family (the API server checks) */
function inside(outer: string, inner: string): boolean {
  const o = parseCidr(outer), i = parseCidr(inner);
  return o.ok && i.ok && o.cidr.family === i.cidr.family && cidrCovers(o.cidr, i.cidr) && i.cidr.len > o.cidr.len;
}

function peerArb(excepts: boolean): fc.Arbitrary<PeerSpec> {
  const block = fc.constantFrom(...V4_CIDRS, ...V6_CIDRS).chain((cidr) => {
    const candidates = [...V4_CIDRS, ...V6_CIDRS].filter((e) => inside(cidr, e));
    const ex = excepts && candidates.length > 0 ? fc.uniqueArray(fc.constantFrom(...candidates), { maxLength: 2 }) : fc.constant([] as string[]);
    return ex.map((except) => (except.length > 0 ? { cidr, except } : { cidr }));
  });
  return fc.oneof(block, fc.constantFrom(...APPS).map((app) => ({ app })));
}

function portArb(): fc.Arbitrary<PortSpec> {
  return fc.oneof(
    fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP') as fc.Arbitrary<'TCP' | 'UDP' | 'SCTP'> }),
    fc.record({ protocol: fc.constantFrom('TCP', 'UDP') as fc.Arbitrary<'TCP' | 'UDP'>, port: fc.constantFrom(22, 53, 80, 443, 8080) }),
    fc.record({ protocol: fc.constantFrom('TCP', 'UDP') as fc.Arbitrary<'TCP' | 'UDP'>, port: fc.constantFrom('http', 'dns') }),
    fc.constantFrom(1000, 1003).map((port) => ({ protocol: 'TCP' as const, port, endPort: port + 4 })),
  );
}

function ruleArb(excepts: boolean, maxPorts: number): fc.Arbitrary<RuleSpec> {
  return fc.record({
    peers: fc.option(fc.array(peerArb(excepts), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    ports: fc.option(fc.array(portArb(), { minLength: 1, maxLength: maxPorts }), { nil: undefined }),
  }, { requiredKeys: [] });
}

function policiesArb(excepts: boolean, maxPorts: number): fc.Arbitrary<PolicySpec[]> {
  return fc.array(fc.record({
    app: fc.constantFrom(...APPS),
    types: fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress']) as fc.Arbitrary<('Ingress' | 'Egress')[]>,
    ingress: fc.array(ruleArb(excepts, maxPorts), { maxLength: 2 }),
    egress: fc.array(ruleArb(excepts, maxPorts), { maxLength: 2 }),
  }), { maxLength: 3 }).map((ps) => ps.map((p, i) => ({ ...p, name: `p${i}` })));
}

/** flows with a pod at one end (the first three addresses of each pool) and any address at the other */
function flowsArb(icmpv6: boolean): fc.Arbitrary<Flow[]> {
  return fc.array(fc.record({
    v6: fc.constantFrom(false, false, true), podIsSource: fc.boolean(), pod: fc.nat(2), peer: fc.nat(),
    proto: fc.constantFrom('TCP', 'TCP', 'UDP', 'SCTP', 'ICMP'), dport: fc.constantFrom(...DPORTS),
  }), { minLength: 5, maxLength: 20 }).map((fs) => fs.flatMap((f, i): Flow[] => {
    const pool = f.v6 ? ADDRS_V6 : ADDRS_V4;
    const pod = pool[f.pod]!, peer = pool[f.peer % pool.length]!;
    const src = f.podIsSource ? pod : peer;
    let dst = f.podIsSource ? peer : pod;
    if (dst === src) dst = pool[(pool.indexOf(src) + 1) % pool.length]!;
    if (f.proto === 'ICMP') return f.v6 && !icmpv6 ? [] : [{ src, dst, proto: 'ICMP' }];
    return [{ src, dst, proto: f.proto, sport: 30000 + i, dport: f.dport }];
  }));
}

function show(flows: readonly Flow[], got: readonly FlowVerdict[], bad: number[], cluster: Cluster): string {
  return `${bad.map((i) => `${JSON.stringify(flows[i])}: ${JSON.stringify(got[i])}`).join('\n')}\n--- policies\n${JSON.stringify(cluster.policies.map((p) => ({ name: p.name, ingress: p.ingress, egress: p.egress, types: p.policyTypes })))}`;
}

describe('aws engine: random clusters', () => {
  it('without excepts, slot overflow, second node IPs, ICMPv6 or conntrack, aws gives exactly the Kubernetes answer', () => {
    fc.assert(fc.property(policiesArb(false, 2), flowsArb(false), (policies, flows) => {
      const cluster = clusterOf(policies);
      const got = judge(cluster, flows, ['maps', 'aws']);
      const bad = got.map((v, i) => (v.engines['aws'] !== v.engines['maps'] || v.departure !== undefined || v.engines['maps'] !== referenceVerdict(cluster, refPacketOf(flows[i]!)) ? i : -1)).filter((i) => i >= 0);
      if (bad.length > 0) throw new Error(show(flows, got, bad, cluster));
    }), { numRuns: 150 });
  });

  /** Random stateful traces on random clusters; returns the departure codes met. Throws on a bad packet. */
  function reasonsAlwaysGiven(params: fc.Parameters<[PolicySpec[], Flow[], boolean, number[]]>): Set<string> {
    const seen = new Set<string>();
    fc.assert(fc.property(policiesArb(true, 3), flowsArb(true), fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (policies, flows, secondNode, replies) => {
      const cluster = clusterOf(policies, secondNode ? [NODE_V4, NODE_V4_SECOND, NODE_V6] : [NODE_V4, NODE_V6]);
      // replies of earlier flows, later in the trace: stateful conntrack on both sides
      const trace = [...flows];
      for (const r of replies) {
        const f = trace[r % trace.length]!;
        trace.splice((r >>> 4) % (trace.length + 1), 0, f.sport === undefined ? { src: f.dst, dst: f.src, proto: f.proto } : { src: f.dst, dst: f.src, proto: f.proto, sport: f.dport!, dport: f.sport });
      }
      const got = judge(cluster, trace, ['maps', 'aws'], true);
      const bad = got.map((v, i) => {
        const differs = v.engines['aws'] !== v.engines['maps'];
        if (v.departure !== undefined) seen.add(v.departure);
        return differs !== (v.departure !== undefined) || v.departure === 'unexplained' ? i : -1;
      }).filter((i) => i >= 0);
      if (bad.length > 0) throw new Error(show(trace, got, bad, cluster));
    }), params);
    return seen;
  }

  it('anywhere else, every packet where aws differs gets a known reason, and no other packet gets one', () => {
    for (const code of reasonsAlwaysGiven({ numRuns: 200 })) expect(DEPARTURE_CODES).toContain(code);
  });

  it('the random clusters reach the builder\'s departures, not only the trivial ones', () => {
    const seen = reasonsAlwaysGiven({ numRuns: 200, seed: 2 });
    expect([...seen].sort()).toEqual(expect.arrayContaining(['ct-half-open', 'except-no-inherit', 'icmpv6-always', 'node-ip-secondary']));
  });
});
