/**
 * Captured traffic for the built-in demo: what `curl http://demo-app/` from every client pod
 * looks like on the wire, over IPv4 and IPv6, with a DNS lookup before each transfer and a ping
 * after. The cluster is kind-like with kindnet-style routing: each pod's eth0 talks to the host
 * side of its veth pair, the node forwards between pods (replies arrive with TTL 63).
 *
 * Two files, the same packets in the same order:
 * - demo-curl.pcap: Ethernet, microseconds, as tcpdump in each client pod's eth0 would record it;
 * - demo-curl-any.pcapng: Linux cooked SLL2, nanoseconds, as `tcpdump -i any` on the node records
 *   it on each client's host-side veth (In for what the client sent, Out for what it receives).
 *
 * Everything comes from a fixed seed: the same call writes byte-identical files.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_APP, DEMO_CLIENTS, type DemoPod } from '../demo/cluster.js';
import { addrBytes, parseIp } from '../net/ip.js';
import type { Flow } from '../verdict/types.js';
import {
  frame,
  ipPacket,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL2,
  tcpOptions,
  type IpPacketOptions,
  type LinkType,
  type TcpFlag,
} from './frames.js';
import { PcapngWriter, PcapWriter } from './pcap-writer.js';

/** kube-dns's Service address in a kind cluster's default service ranges */
export const DEMO_DNS = { v4: '10.96.0.10', v6: 'fd00:10:96::a' };

export const DEMO_HTTP_REQUEST = 'GET / HTTP/1.1\r\nHost: demo-app\r\nUser-Agent: curl/8.10.1\r\nAccept: */*\r\n\r\n';

export type DemoConnectionKind = 'dns' | 'http' | 'ping';

/** One connection of the demo traffic; as a Flow it is its first packet, client to server. */
export interface DemoConnection extends Flow {
  readonly client: string;
  readonly namespace: string;
  readonly family: 4 | 6;
  readonly kind: DemoConnectionKind;
  readonly proto: 'TCP' | 'UDP' | 'ICMP';
  /** the echo identifier, for ping */
  readonly icmpId?: number;
  readonly packets: number;
  /** 0-based positions of this connection's packets in the trace, in order */
  readonly packetIndexes: readonly number[];
}

export interface DemoPacket {
  /** nanoseconds since the epoch */
  readonly ts: bigint;
  /** the IP datagram */
  readonly ip: Uint8Array;
  /** sent by the client pod (else received by it) */
  readonly fromClient: boolean;
  /** index into DEMO_CLIENTS */
  readonly clientIndex: number;
  /** index into DemoTraffic.connections */
  readonly connection: number;
}

export interface DemoTraffic {
  readonly packets: readonly DemoPacket[];
  readonly connections: readonly DemoConnection[];
}

export interface DemoTrace {
  readonly file: string;
  readonly linkType: LinkType;
  readonly packets: number;
  readonly connections: readonly DemoConnection[];
}

/** xorshift32 from a fixed seed: plausible, varied and reproducible numbers */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  /** a unicast, locally administered MAC, like the kernel's random veth addresses */
  mac(): string {
    const b = [(this.int(0, 255) & 0xfc) | 0x02, ...Array.from({ length: 5 }, () => this.int(0, 255))];
    return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
  }
}

/** 2025-05-20 08:30:00 UTC */
const BASE_NS = BigInt(Date.UTC(2025, 4, 20, 8, 30, 0)) * 1_000_000n;
const US = 1000n;

interface ClientLink {
  /** the pod's eth0 */
  readonly podMac: string;
  /** the host side of its veth pair, the pod's next hop */
  readonly hostMac: string;
  readonly ifindex: number;
}

const HTTP_DATE = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toUTCString();

function httpResponse(now: bigint): string {
  const body = [
    '<!DOCTYPE html>',
    '<html>',
    '<head><title>demo-app</title></head>',
    '<body>',
    '<h1>demo-app</h1>',
    '<p>nginx in namespace default answered.</p>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
  const modified = Date.UTC(2025, 4, 19, 14, 2, 31);
  const etag = `"${(modified / 1000).toString(16)}-${body.length.toString(16)}"`;
  return [
    'HTTP/1.1 200 OK',
    'Server: nginx/1.27.5',
    `Date: ${HTTP_DATE(now)}`,
    'Content-Type: text/html',
    `Content-Length: ${body.length}`,
    `Last-Modified: ${new Date(modified).toUTCString()}`,
    'Connection: keep-alive',
    `ETag: ${etag}`,
    'Accept-Ranges: bytes',
    '',
    body,
  ].join('\r\n');
}

function dnsName(name: string): number[] {
  return [...name.split('.').flatMap((l) => [l.length, ...Array.from(l, (c) => c.charCodeAt(0))]), 0];
}

/** A DNS query for demo-app's A or AAAA record, or its answer naming demo-app's pod address. */
function dnsMessage(id: number, family: 4 | 6, answer: boolean): Uint8Array {
  const qtype = family === 4 ? 1 : 28;
  const header = [id >>> 8, id & 0xff, answer ? 0x85 : 0x01, answer ? 0x80 : 0x00, 0, 1, 0, answer ? 1 : 0, 0, 0, 0, 0];
  const question = [...dnsName('demo-app.default.svc.cluster.local'), 0, qtype, 0, 1];
  if (!answer) return Uint8Array.from([...header, ...question]);
  // the answer names the pod: the trace shows pod-to-pod traffic, as NetworkPolicy judges it
  const rdata = family === 4
    ? DEMO_APP.v4.split('.').map(Number)
    : [...addrBytes(parseIp(DEMO_APP.v6)!)];
  const rr = [0xc0, 12, 0, qtype, 0, 1, 0, 0, 0, 30, 0, rdata.length, ...rdata];
  return Uint8Array.from([...header, ...question, ...rr]);
}

/** Linux ping's 56-byte payload: a struct timeval (little-endian 64-bit fields), then 0x10, 0x11, ... */
function pingPayload(ns: bigint): Uint8Array {
  const b = new Uint8Array(56);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, ns / 1_000_000_000n, true);
  v.setBigUint64(8, (ns % 1_000_000_000n) / 1000n, true);
  for (let i = 16; i < 56; i++) b[i] = i - 16 + 0x10;
  return b;
}

/**
 * The demo traffic in capture order: per client, per family, a DNS lookup, a curl of
 * demo-app:80 (handshake, GET, 200, close), then a ping of demo-app. Clients start a few
 * milliseconds apart, so their connections interleave.
 */
export function demoTraffic(): DemoTraffic {
  const rng = new Rng(0x5eed1e55);
  const staged: Omit<DemoPacket, 'connection'>[] = [];
  const stagedConn: number[] = [];
  const conns: Omit<DemoConnection, 'packetIndexes'>[] = [];

  DEMO_CLIENTS.forEach((client: DemoPod, ci: number) => {
    let t = BASE_NS + BigInt(ci) * 2_400n * US + BigInt(rng.int(0, 900)) * US + BigInt(rng.int(0, 999));
    const gap = (loUs: number, hiUs: number): bigint => (t += BigInt(rng.int(loUs, hiUs)) * US + BigInt(rng.int(0, 999)));
    let clientIpId = rng.int(0, 0xffff);
    let serverIpId = rng.int(0, 0xffff);
    const clientTsBase = rng.u32();
    const serverTsBase = rng.u32();
    const start = t;
    const tsval = (base: number): number => (base + Number((t - start) / 1_000_000n)) >>> 0;

    const emit = (conn: number, fromClient: boolean, o: IpPacketOptions): void => {
      const v4 = !String(o.src).includes(':');
      const id = v4 ? (fromClient ? clientIpId++ : serverIpId++) & 0xffff : undefined;
      staged.push({ ts: t, ip: ipPacket({ ...o, ttl: fromClient ? 64 : 63, id }), fromClient, clientIndex: ci });
      stagedConn.push(conn);
    };

    const addConn = (c: Omit<DemoConnection, 'packetIndexes' | 'client' | 'namespace'>): number =>
      conns.push({ client: client.name, namespace: client.namespace, ...c }) - 1;

    for (const family of [4, 6] as const) {
      const src = family === 4 ? client.v4 : client.v6;
      const server = family === 4 ? DEMO_APP.v4 : DEMO_APP.v6;
      const dns = family === 4 ? DEMO_DNS.v4 : DEMO_DNS.v6;
      const label = (): { flowLabel?: number } => (family === 6 ? { flowLabel: rng.int(1, 0xfffff) } : {});

      // DNS lookup of demo-app
      const dport = rng.int(32768, 60999);
      const dnsId = rng.int(0, 0xffff);
      const dc = addConn({ family, kind: 'dns', proto: 'UDP', src, dst: dns, sport: dport, dport: 53, packets: 2 });
      const qLabel = label(), aLabel = label();
      emit(dc, true, { src, dst: dns, proto: 'UDP', sport: dport, dport: 53, payload: dnsMessage(dnsId, family, false), ...qLabel });
      gap(180, 420);
      emit(dc, false, { src: dns, dst: src, proto: 'UDP', sport: 53, dport, payload: dnsMessage(dnsId, family, true), ...aLabel });

      // curl http://demo-app/
      gap(60, 160);
      const sport = rng.int(32768, 60999);
      const hc = addConn({ family, kind: 'http', proto: 'TCP', src, dst: server, sport, dport: 80, packets: 10 });
      const cl = label(), sl = label();
      let cseq = rng.u32(), sseq = rng.u32();
      let cts = 0, sts = 0;
      const c2s = (flags: TcpFlag[], payload?: string, opts?: Uint8Array, window = 502): void => {
        cts = tsval(clientTsBase);
        emit(hc, true, {
          src, dst: server, proto: 'TCP', sport, dport: 80, tcpFlags: flags, seq: cseq, ack: flags.includes('ACK') ? sseq : 0,
          window, payload, tcpOptions: opts ?? tcpOptions({ timestamp: [cts, sts] }), ...cl,
        });
        cseq = (cseq + (payload?.length ?? 0) + (flags.includes('SYN') || flags.includes('FIN') ? 1 : 0)) >>> 0;
      };
      const s2c = (flags: TcpFlag[], payload?: string, opts?: Uint8Array, window = 509): void => {
        sts = tsval(serverTsBase);
        emit(hc, false, {
          src: server, dst: src, proto: 'TCP', sport: 80, dport: sport, tcpFlags: flags, seq: sseq, ack: cseq,
          window, payload, tcpOptions: opts ?? tcpOptions({ timestamp: [sts, cts] }), ...sl,
        });
        sseq = (sseq + (payload?.length ?? 0) + (flags.includes('SYN') || flags.includes('FIN') ? 1 : 0)) >>> 0;
      };
      const mss = family === 4 ? 1460 : 1440;
      cts = tsval(clientTsBase);
      c2s(['SYN'], undefined, tcpOptions({ mss, sackPermitted: true, timestamp: [cts, 0], wscale: 7 }), family === 4 ? 64240 : 64800);
      gap(40, 90);
      sts = tsval(serverTsBase);
      s2c(['SYN', 'ACK'], undefined, tcpOptions({ mss, sackPermitted: true, timestamp: [sts, cts], wscale: 7 }), family === 4 ? 65160 : 64260);
      gap(20, 50);
      c2s(['ACK']);
      gap(40, 120);
      c2s(['PSH', 'ACK'], DEMO_HTTP_REQUEST);
      gap(30, 60);
      s2c(['ACK']);
      gap(200, 500);
      s2c(['PSH', 'ACK'], httpResponse(t));
      gap(30, 70);
      c2s(['ACK']);
      gap(80, 200);
      c2s(['FIN', 'ACK']);
      gap(40, 90);
      s2c(['FIN', 'ACK']);
      gap(20, 50);
      c2s(['ACK']);
      gap(300, 900);
    }

    // ping -c 1 demo-app, both families
    for (const family of [4, 6] as const) {
      const src = family === 4 ? client.v4 : client.v6;
      const server = family === 4 ? DEMO_APP.v4 : DEMO_APP.v6;
      const id = rng.int(1, 0xffff);
      const pc = addConn({ family, kind: 'ping', proto: 'ICMP', src, dst: server, icmpId: id, packets: 2 });
      const payload = pingPayload(t);
      const label = (): { flowLabel?: number } => (family === 6 ? { flowLabel: rng.int(1, 0xfffff) } : {});
      emit(pc, true, { src, dst: server, proto: 'ICMP', icmp: { type: 'request', id, seq: 1 }, payload, ...label() });
      gap(50, 130);
      emit(pc, false, { src: server, dst: src, proto: 'ICMP', icmp: { type: 'reply', id, seq: 1 }, payload, ...label() });
      gap(200, 600);
    }
  });

  // merge the clients' timelines; the sort is stable and timestamps carry random nanoseconds
  const order = staged.map((_, i) => i).sort((a, b) => {
    const d = staged[a]!.ts - staged[b]!.ts;
    return d < 0n ? -1 : d > 0n ? 1 : a - b;
  });
  const packets: DemoPacket[] = order.map((i) => ({ ...staged[i]!, connection: stagedConn[i]! }));
  const indexes: number[][] = conns.map(() => []);
  packets.forEach((p, i) => indexes[p.connection]!.push(i));
  // connections listed by first packet
  const byFirst = conns.map((_, i) => i).sort((a, b) => indexes[a]![0]! - indexes[b]![0]!);
  const renumber = new Map(byFirst.map((old, neu) => [old, neu]));
  return {
    packets: packets.map((p) => ({ ...p, connection: renumber.get(p.connection)! })),
    connections: byFirst.map((i) => ({ ...conns[i]!, packetIndexes: indexes[i]! })),
  };
}

function clientLinks(): ClientLink[] {
  const rng = new Rng(0x0ddba11);
  // kind's node has lo, eth0 and a few veths before the demo pods'; the numbers only need to be plausible
  return DEMO_CLIENTS.map((_, i) => ({ podMac: rng.mac(), hostMac: rng.mac(), ifindex: 7 + i }));
}

/**
 * Writes demo-curl.pcap (Ethernet, µs) and demo-curl-any.pcapng (SLL2, ns) into `dir`, creating
 * it, and returns what each file holds. Throws PfsimError when a file cannot be written.
 */
export function writeDemoTraces(dir: string): DemoTrace[] {
  mkdirSync(dir, { recursive: true });
  const { packets, connections } = demoTraffic();
  const links = clientLinks();

  const pcapFile = join(dir, 'demo-curl.pcap');
  const pcap = new PcapWriter(pcapFile, { linkType: LINKTYPE_ETHERNET, resolution: 'us' });
  try {
    for (const p of packets) {
      const l = links[p.clientIndex]!;
      const macs = p.fromClient ? { srcMac: l.podMac, dstMac: l.hostMac } : { srcMac: l.hostMac, dstMac: l.podMac };
      pcap.writePacket(p.ts, frame(LINKTYPE_ETHERNET, p.ip, macs));
    }
  } finally {
    pcap.close();
  }

  const ngFile = join(dir, 'demo-curl-any.pcapng');
  const ng = new PcapngWriter(ngFile, { interfaces: [{ linkType: LINKTYPE_LINUX_SLL2, name: 'any', resolution: 'ns' }] });
  try {
    for (const p of packets) {
      const l = links[p.clientIndex]!;
      // SLL2 holds the frame's source address: the pod's for In, the veth's own for Out
      const sll = p.fromClient
        ? { srcMac: l.podMac, packetType: 'host' as const, ifindex: l.ifindex }
        : { srcMac: l.hostMac, packetType: 'outgoing' as const, ifindex: l.ifindex };
      ng.writePacket(0, p.ts, frame(LINKTYPE_LINUX_SLL2, p.ip, sll));
    }
  } finally {
    ng.close();
  }

  return [
    { file: pcapFile, linkType: LINKTYPE_ETHERNET, packets: packets.length, connections },
    { file: ngFile, linkType: LINKTYPE_LINUX_SLL2, packets: packets.length, connections },
  ];
}
