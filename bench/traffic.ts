/**
 * Benchmark traffic for the generated clusters, as a node would capture it: connections to the
 * server pod, interleaved 64 at a time, written once as an Ethernet pcap into traces/ and reused.
 * The mix, by connection:
 *   45 %  new TCP connections from inside an allowed block: handshake, a few data segments
 *         both ways, FIN exchange
 *   15 %  established TCP flows picked up mid-stream (no SYN): ACK and PSH|ACK segments
 *   25 %  denied attempts: a SYN from an address no rule was drawn for, retransmitted twice
 *   15 %  UDP request and answer, from inside an allowed UDP block when one exists
 * About a fifth of the connections are IPv6 (from the IPv6 rules of a dual-stack cluster).
 * Deterministic for a given rule set, length and seed.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { frame, ipPacket, LINKTYPE_ETHERNET, tcpOptions, type IpPacketOptions, type TcpFlag } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { V4_MAPPED_BASE } from '../src/net/ip.js';
import { BENCH_SERVER_IP, BENCH_SERVER_IP6, isMartian, rng, type FilterRule } from './workloads.js';

/** bump when the generated traffic changes, so an old trace is not reused */
export const TRAFFIC_VERSION = 2;

/** The mix, cumulative: new, mid-stream, denied, UDP. */
const MIX = { fresh: 0.45, midstream: 0.6, denied: 0.85 } as const;
const V6_SHARE = 0.2;
const LIVE_CONNECTIONS = 64;

type Rand = () => number;
const below = (r: Rand, n: number) => Math.floor(r() * n);

/** A random address inside `f`'s block (host bits random, at most 32 of them), never martian. */
function inside(r: Rand, f: FilterRule): bigint {
  const hostBits = 128 - f.src.len;
  for (;;) {
    const span = BigInt(Math.floor(r() * 2 ** Math.min(hostBits, 32)));
    const a = f.src.addr | (span & ((1n << BigInt(hostBits)) - 1n));
    // a /8 like 169.0.0.0/8 holds martian 169.254/16: draw again
    if (f.src.family === 6 || !isMartian(Number(a & 0xffffffffn))) return a;
  }
}

/** A random public IPv4 (as ::ffff:a.b.c.d) or IPv6 (2600::/12) address. */
function randomSource(r: Rand, v6: boolean): bigint {
  if (v6) return (0x26n << 120n) | (BigInt(below(r, 2 ** 30)) << 88n) | BigInt(below(r, 2 ** 30));
  for (;;) {
    const a = below(r, 2 ** 32);
    if (!isMartian(a)) return V4_MAPPED_BASE | BigInt(a);
  }
}

function dportOf(r: Rand, f: FilterRule): number {
  return Math.max(1, f.dport[0] + below(r, f.dport[1] - f.dport[0] + 1));
}

interface Pools {
  readonly tcp: { readonly v4: FilterRule[]; readonly v6: FilterRule[] };
  readonly udp: { readonly v4: FilterRule[]; readonly v6: FilterRule[] };
}

/** IPv4 blocks a router would never forward from (ClassBench has multicast and loopback ones). */
function martianBlock(f: FilterRule): boolean {
  return f.src.family === 4 && isMartian(Number(f.src.addr & 0xffffffffn));
}

function pools(rules: readonly FilterRule[]): Pools {
  const p: Pools = { tcp: { v4: [], v6: [] }, udp: { v4: [], v6: [] } };
  for (const f of rules) {
    if (martianBlock(f)) continue;
    const fam = f.src.family === 6 ? 'v6' : 'v4';
    if (f.proto !== 17) p.tcp[fam].push(f);
    if (f.proto !== 6) p.udp[fam].push(f);
  }
  return p;
}

/** One connection's datagrams in order. `k` numbers connections (source ports, timestamps). */
function connection(r: Rand, p: Pools, k: number): Uint8Array[] {
  const v6 = r() < V6_SHARE && (p.tcp.v6.length > 0 || p.udp.v6.length > 0);
  const fam = v6 ? 'v6' : 'v4';
  const server = v6 ? BENCH_SERVER_IP6 : BENCH_SERVER_IP;
  const sport = 1024 + ((k * 7919) % 60000);
  const kind = r();
  if (kind >= MIX.denied || p.tcp[fam].length === 0) {
    const f = p.udp[fam].length > 0 && r() < 0.8 ? p.udp[fam][below(r, p.udp[fam].length)]! : undefined;
    const client = f ? inside(r, f) : randomSource(r, v6);
    const dport = f ? dportOf(r, f) : 53;
    const q: IpPacketOptions = { src: client, dst: server, proto: 'UDP', sport, dport, payload: new Uint8Array(40 + below(r, 60)) };
    const a: IpPacketOptions = { src: server, dst: client, proto: 'UDP', sport: dport, dport: sport, payload: new Uint8Array(80 + below(r, 400)), ttl: 63 };
    return [ipPacket(q), ipPacket(a)];
  }
  const f = p.tcp[fam][below(r, p.tcp[fam].length)]!;
  if (kind >= MIX.midstream) {
    // a scanner or a client whose address no rule covers: SYN and two retransmissions
    const src = randomSource(r, v6);
    const dport = r() < 0.5 ? dportOf(r, f) : [22, 80, 443, 3306, 5432, 6379, 8080][below(r, 7)]!;
    const syn = ipPacket({ src, dst: server, proto: 'TCP', sport, dport, tcpFlags: ['SYN'], seq: k, tcpOptions: tcpOptions({ mss: 1460, sackPermitted: true, wscale: 7 }) });
    return [syn, syn, syn];
  }
  const client = inside(r, f);
  const dport = dportOf(r, f);
  let cseq = k * 1000, sseq = k * 3000;
  const seg = (fromClient: boolean, flags: TcpFlag[], len: number): Uint8Array => {
    const pkt = fromClient
      ? ipPacket({ src: client, dst: server, proto: 'TCP', sport, dport, tcpFlags: flags, seq: cseq, ack: sseq, payload: new Uint8Array(len) })
      : ipPacket({ src: server, dst: client, proto: 'TCP', sport: dport, dport: sport, tcpFlags: flags, seq: sseq, ack: cseq, payload: new Uint8Array(len), ttl: 63 });
    if (fromClient) cseq += len + (flags.includes('SYN') || flags.includes('FIN') ? 1 : 0);
    else sseq += len + (flags.includes('SYN') || flags.includes('FIN') ? 1 : 0);
    return pkt;
  };
  const data: Uint8Array[] = [];
  for (let i = 1 + below(r, 4); i > 0; i--) {
    data.push(seg(true, ['PSH', 'ACK'], 60 + below(r, 300)), seg(false, ['ACK'], 0));
    data.push(seg(false, ['PSH', 'ACK'], 200 + below(r, 1200)), seg(true, ['ACK'], 0));
  }
  if (kind >= MIX.fresh) return data; // mid-stream: the capture started after the handshake
  return [
    seg(true, ['SYN'], 0), seg(false, ['SYN', 'ACK'], 0), seg(true, ['ACK'], 0),
    ...data,
    seg(true, ['FIN', 'ACK'], 0), seg(false, ['FIN', 'ACK'], 0), seg(true, ['ACK'], 0),
  ];
}

/**
 * Writes `packets` packets of traffic for `rules` into `file` unless it exists (an interrupted
 * run leaves only a temporary file behind). Returns whether it wrote.
 */
export function ensureTrace(file: string, rules: readonly FilterRule[], packets: number, seed = 3): boolean {
  if (existsSync(file)) return false;
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const w = new PcapWriter(tmp, { linkType: LINKTYPE_ETHERNET });
  const r = rng(seed);
  const p = pools(rules);
  const live: Uint8Array[][] = [];
  let ts = 1_700_000_000_000_000_000n;
  let k = 0;
  while (w.packets < packets) {
    while (live.length < LIVE_CONNECTIONS) live.push(connection(r, p, k++).reverse());
    const i = below(r, live.length);
    const c = live[i]!;
    ts += BigInt(1000 + below(r, 50_000));
    w.writePacket(ts, frame(LINKTYPE_ETHERNET, c.pop()!, { padToMinimum: true }));
    if (c.length === 0) live.splice(i, 1);
  }
  w.close();
  renameSync(tmp, file);
  return true;
}
