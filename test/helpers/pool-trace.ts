/**
 * A small dual-stack cluster with ingress and egress policies, and captures of many stateful
 * connections to it, interleaved at random: allowed TCP (SYN, SYN-ACK, ACK, data, FIN both
 * ways), denied attempts answered by the server (retransmitted SYNs, a SYN-ACK that opens
 * nothing), mid-stream pickups, UDP with fragmented answers, ICMP echo, and frames the reader
 * skips (ARP, a cut IP header). Deterministic for a seed. For the replay pool tests.
 */
import { frame, fragmentPacket, ipPacket, LINKTYPE_ETHERNET, type IpPacketOptions, type TcpFlag } from '../../src/capture/frames.js';
import { PcapWriter } from '../../src/capture/pcap-writer.js';
import { rng } from '../../bench/workloads.js';

export const POOL_CLUSTER_YAML = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    kubernetes.io/metadata.name: shop
---
apiVersion: v1
kind: Node
metadata:
  name: n1
status:
  addresses:
  - type: InternalIP
    address: 172.20.0.1
  - type: InternalIP
    address: fd00:ff::1
${[['web', 'web', 10], ['db', 'db', 20], ['client-a', 'client', 30], ['client-b', 'client', 31], ['rogue', 'rogue', 40]].map(([name, app, n]) => `---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels:
    app: ${app}
spec:
  nodeName: n1
status:
  podIP: 10.1.0.${n}
  podIPs:
  - ip: 10.1.0.${n}
  - ip: fd00:1::${n}
`).join('')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-ingress
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: client
    ports:
    - protocol: TCP
      port: 80
  - from:
    - ipBlock:
        cidr: 203.0.113.0/24
    - ipBlock:
        cidr: 2001:db8::/32
    ports:
    - protocol: TCP
      port: 443
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-ingress
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: db
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
    ports:
    - protocol: TCP
      port: 5432
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: client-egress
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: client
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: web
    ports:
    - protocol: TCP
      port: 80
  - to:
    - ipBlock:
        cidr: 0.0.0.0/0
    - ipBlock:
        cidr: ::/0
    ports:
    - protocol: UDP
      port: 53
`;

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const pod = (n: number, v6: boolean) => (v6 ? `fd00:1::${n}` : `10.1.0.${n}`);

/** One connection's IP datagrams (or raw frames, for skips) in order. */
type Packet = { readonly ip: Uint8Array } | { readonly raw: Uint8Array };

/** A TCP conversation: handshake unless mid-stream, `rounds` data exchanges, FIN exchange unless cut. */
function tcp(client: string, server: string, sport: number, dport: number, rounds: number, opts: { midstream?: boolean; cut?: boolean }): Packet[] {
  let cseq = sport * 7, sseq = sport * 11;
  const seg = (fromClient: boolean, flags: TcpFlag[], len: number): Packet => {
    const o: IpPacketOptions = fromClient
      ? { src: client, dst: server, proto: 'TCP', sport, dport, tcpFlags: flags, seq: cseq, ack: sseq, payload: new Uint8Array(len) }
      : { src: server, dst: client, proto: 'TCP', sport: dport, dport: sport, tcpFlags: flags, seq: sseq, ack: cseq, payload: new Uint8Array(len) };
    const step = len + (flags.includes('SYN') || flags.includes('FIN') ? 1 : 0);
    if (fromClient) cseq += step; else sseq += step;
    return { ip: ipPacket(o) };
  };
  const out: Packet[] = [];
  if (!opts.midstream) out.push(seg(true, ['SYN'], 0), seg(false, ['SYN', 'ACK'], 0), seg(true, ['ACK'], 0));
  for (let i = 0; i < rounds; i++) out.push(seg(true, ['PSH', 'ACK'], 20 + i * 13), seg(false, ['ACK'], 0), seg(false, ['PSH', 'ACK'], 100 + i * 31), seg(true, ['ACK'], 0));
  if (!opts.cut) out.push(seg(true, ['FIN', 'ACK'], 0), seg(false, ['FIN', 'ACK'], 0), seg(true, ['ACK'], 0));
  return out;
}

/** A denied attempt the server still answers: SYN, SYN-ACK (opens nothing), SYN again, RST. */
function deniedTcp(client: string, server: string, sport: number, dport: number): Packet[] {
  const syn = ipPacket({ src: client, dst: server, proto: 'TCP', sport, dport, tcpFlags: ['SYN'], seq: sport });
  return [
    { ip: syn },
    { ip: ipPacket({ src: server, dst: client, proto: 'TCP', sport: dport, dport: sport, tcpFlags: ['SYN', 'ACK'], seq: 9, ack: sport + 1 }) },
    { ip: syn },
    { ip: ipPacket({ src: client, dst: server, proto: 'TCP', sport, dport, tcpFlags: ['RST'], seq: sport + 1 }) },
  ];
}

function udp(client: string, server: string, sport: number, dport: number, id: number): Packet[] {
  const q = ipPacket({ src: client, dst: server, proto: 'UDP', sport, dport, payload: new Uint8Array(40) });
  // a large answer in fragments: later fragments carry no ports, the reader fills in the first's
  const answer = fragmentPacket({ src: server, dst: client, proto: 'UDP', sport: dport, dport: sport, payload: new Uint8Array(1200), id }, 512);
  return [{ ip: q }, ...answer.map((ip) => ({ ip }))];
}

function ping(a: string, b: string, id: number): Packet[] {
  return [
    { ip: ipPacket({ src: a, dst: b, proto: 'ICMP', icmp: { type: 'request', id, seq: 1 } }) },
    { ip: ipPacket({ src: b, dst: a, proto: 'ICMP', icmp: { type: 'reply', id, seq: 1 } }) },
  ];
}

/** Frames the reader cannot judge: ARP (not-ip) and an IPv4 header cut short (truncated). */
function skips(): Packet[] {
  const arp = new Uint8Array(42);
  arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06], 0);
  const cut = frame(LINKTYPE_ETHERNET, ipPacket({ src: '10.1.0.30', dst: '10.1.0.10', proto: 'TCP', sport: 1, dport: 80 })).subarray(0, 14 + 12);
  return [{ raw: arp }, { raw: cut }];
}

/** The datagrams of connection `k`. */
function connection(r: Rand, k: number): Packet[] {
  const v6 = r() < 0.3;
  const sport = 20000 + k;
  const ext = (block: 'ok' | 'bad') => (v6 ? `${block === 'ok' ? '2001:db8' : '2001:db9'}::${(k % 4000) + 1}` : `${block === 'ok' ? '203.0.113' : '198.51.100'}.${(k % 250) + 1}`);
  const client = pod(pick(r, [30, 31]), v6);
  const web = pod(10, v6), db = pod(20, v6), rogue = pod(40, v6);
  const rounds = 1 + Math.floor(r() * 4);
  switch (Math.floor(r() * 11)) {
    case 0: return tcp(client, web, sport, 80, rounds, {});
    case 1: return tcp(web, db, sport, 5432, rounds, { cut: r() < 0.3 });
    case 2: return tcp(ext('ok'), web, sport, 443, rounds, {});
    case 3: return tcp(ext('ok'), web, sport, 443, rounds, { midstream: true });
    case 4: return deniedTcp(rogue, web, sport, 80);
    case 5: return deniedTcp(ext('bad'), web, sport, 443);
    case 6: return deniedTcp(client, db, sport, 5432); // client egress allows web:80 only
    case 7: return tcp(rogue, db, sport, 5432, rounds, { midstream: true }); // denied pickup
    case 8: return udp(client, v6 ? '2001:4860::8888' : '8.8.8.8', sport, pick(r, [53, 123]), k);
    case 9: return ping(pick(r, [rogue, web]), pick(r, [web, ext('bad')]), k);
    default: return skips();
  }
}

export interface PoolTrace {
  readonly packets: number;
  readonly connections: number;
}

/**
 * Writes `connections` connections as an Ethernet pcap, `live` of them open at a time, each
 * packet taken from a random open one: the packets of a connection spread over many batches.
 */
export function writePoolTrace(file: string, connections: number, seed = 7, live = 48): PoolTrace {
  const r = rng(seed);
  const w = new PcapWriter(file, { linkType: LINKTYPE_ETHERNET });
  const open: Packet[][] = [];
  let next = 0;
  let ts = 1_700_000_000_000_000_000n;
  try {
    while (next < connections || open.length > 0) {
      while (open.length < live && next < connections) open.push(connection(r, next++).reverse());
      const i = Math.floor(r() * open.length);
      const c = open[i]!;
      const p = c.pop()!;
      ts += 1000n;
      w.writePacket(ts, 'raw' in p ? p.raw : frame(LINKTYPE_ETHERNET, p.ip));
      if (c.length === 0) open.splice(i, 1);
    }
    return { packets: w.packets, connections };
  } finally {
    w.close();
  }
}
