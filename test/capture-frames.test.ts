/**
 * Wire frames: byte-exact layouts against hand-written bytes, every checksum recomputed here
 * independently (one's-complement words over header or pseudo-header must sum to 0xffff, SCTP's
 * CRC32c by a bitwise loop), link-layer headers field by field, and the same frames read back
 * by the real tcpdump, which must find every checksum correct.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crc32c,
  fragmentPacket,
  frame,
  inetChecksum,
  ipPacket,
  ipv4RecordRoute,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  tcpOptions,
  type IpPacketOptions,
  type LinkType,
} from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { PfsimError } from '../src/errors.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** One's-complement sum of big-endian 16-bit words over the concatenation of `parts`, folded. */
function wordSum(...parts: Uint8Array[]): number {
  const all = Buffer.concat(parts);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i]! << 8) + (all[i + 1] ?? 0);
  while (s > 0xffff) s = (s >>> 16) + (s & 0xffff);
  return s;
}

function pseudoHeader(src: Uint8Array, dst: Uint8Array, proto: number, len: number): Uint8Array {
  if (src.length === 4) return Uint8Array.from([...src, ...dst, 0, proto, len >>> 8, len & 0xff]);
  return Uint8Array.from([...src, ...dst, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, 0, 0, 0, proto]);
}

/** Bitwise CRC32c, written apart from the table-driven one under test. */
function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (~crc) >>> 0;
}

interface Parsed {
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  /** next-header chain for IPv6, from the fixed header to the transport */
  chain: number[];
  segment: Uint8Array;
}

/** A small independent IP parser for the assertions below. */
function parseIp(d: Uint8Array): Parsed {
  if (d[0]! >>> 4 === 4) {
    const ihl = (d[0]! & 15) * 4;
    const total = (d[2]! << 8) | d[3]!;
    return { family: 4, src: d.subarray(12, 16), dst: d.subarray(16, 20), proto: d[9]!, chain: [d[9]!], segment: d.subarray(ihl, total) };
  }
  const plen = (d[4]! << 8) | d[5]!;
  let nh = d[6]!;
  let off = 40;
  const chain = [nh];
  while (nh === 0 || nh === 43 || nh === 60 || nh === 44) {
    const len = nh === 44 ? 8 : (d[off + 1]! + 1) * 8;
    nh = d[off]!;
    chain.push(nh);
    off += len;
  }
  return { family: 6, src: d.subarray(8, 24), dst: d.subarray(24, 40), proto: nh, chain, segment: d.subarray(off, 40 + plen) };
}

function expectTransportChecksumOk(d: Uint8Array): void {
  const p = parseIp(d);
  if (p.proto === 1) {
    expect(wordSum(p.segment)).toBe(0xffff);
    return;
  }
  expect(wordSum(pseudoHeader(p.src, p.dst, p.proto, p.segment.length), p.segment)).toBe(0xffff);
}

describe('hand-written bytes', () => {
  it('IPv4/TCP SYN: every byte of header and segment', () => {
    const d = ipPacket({ src: '10.244.0.11', dst: '10.244.0.10', proto: 'TCP', sport: 40000, dport: 80, seq: 0x01020304, tcpFlags: ['SYN'], window: 64240, id: 0x1234 });
    expect(toHex(d)).toBe(toHex(hex(`
      45 00 0028 1234 4000 40 06 12a0 0af4000b 0af4000a
      9c40 0050 01020304 00000000 50 02 faf0 fe5e 0000`)));
  });

  it('IPv6/UDP: every byte of header and datagram', () => {
    const d = ipPacket({ src: 'fd00:10:244::b', dst: 'fd00:10:244::a', proto: 'UDP', sport: 53000, dport: 53, payload: 'ping', flowLabel: 0xabcde });
    expect(toHex(d)).toBe(toHex(hex(`
      600abcde 000c 11 40 fd00001002440000000000000000000b fd00001002440000000000000000000a
      cf08 0035 000c 5309 70696e67`)));
  });
});

describe('checksums, recomputed independently', () => {
  const cases: [string, IpPacketOptions][] = [
    ['IPv4 TCP with options and an odd payload', { src: '10.0.0.1', dst: '192.168.7.9', proto: 'TCP', sport: 1234, dport: 443, tcpFlags: ['PSH', 'ACK'], seq: 0xfffffff0, ack: 77, tcpOptions: tcpOptions({ timestamp: [1, 2] }), payload: 'odd!!' }],
    ['IPv4 UDP', { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 5000, dport: 53, payload: 'query' }],
    ['IPv4 ICMP echo reply', { src: '10.0.0.1', dst: '10.0.0.2', proto: 'ICMP', icmp: { type: 'reply', id: 0xbeef, seq: 3 }, payload: 'abcdefg' }],
    ['IPv6 TCP FIN/ACK', { src: '2001:db8::1', dst: '2001:db8:ffff::2', proto: 'TCP', sport: 80, dport: 55555, tcpFlags: ['FIN', 'ACK'], seq: 9, ack: 10 }],
    ['IPv6 UDP odd payload', { src: 'fe80::1', dst: 'ff02::fb', proto: 'UDP', sport: 5353, dport: 5353, payload: 'x' }],
    ['IPv6 ICMPv6 echo request', { src: 'fd00::1', dst: 'fd00::2', proto: 'ICMP', icmp: { type: 'request', id: 1, seq: 1 }, payload: 'ping' }],
    ['IPv6 UDP behind hop-by-hop, destination options and routing headers', { src: 'fd00::1', dst: 'fd00::2', proto: 'UDP', sport: 1, dport: 2, ext: ['hop', 'dst', 'route'], payload: 'abc' }],
  ];
  for (const [name, o] of cases) {
    it(`${name}: transport sums to 0xffff over pseudo-header and segment`, () => {
      const d = ipPacket(o);
      expectTransportChecksumOk(d);
      if (d[0]! >>> 4 === 4) expect(wordSum(d.subarray(0, (d[0]! & 15) * 4))).toBe(0xffff);
    });
  }

  it('IPv4 header with options sums to 0xffff; IHL grows to 6', () => {
    const d = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'TCP', sport: 1, dport: 2, ipOptions: ipv4RecordRoute() });
    expect(d[0]).toBe(0x46);
    expect(toHex(d.subarray(20, 24))).toBe('01070304'); // NOP; RR, length 3, pointer 4
    expect((d[2]! << 8) | d[3]!).toBe(d.length);
    expect(wordSum(d.subarray(0, 24))).toBe(0xffff);
    expectTransportChecksumOk(d);
  });

  it('inetChecksum is the RFC 1071 example', () => {
    // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d
    expect(inetChecksum(hex('0001f203f4f5f6f7'))).toBe(0x220d);
  });

  it('corrupt writes a wrong checksum where asked', () => {
    const base: IpPacketOptions = { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 1, dport: 2, payload: 'x' };
    const badIp = ipPacket({ ...base, corrupt: 'ip' });
    expect(wordSum(badIp.subarray(0, 20))).not.toBe(0xffff);
    expectTransportChecksumOk(badIp);
    const badL4 = ipPacket({ ...base, corrupt: 'l4' });
    expect(wordSum(badL4.subarray(0, 20))).toBe(0xffff);
    const p = parseIp(badL4);
    expect(wordSum(pseudoHeader(p.src, p.dst, 17, p.segment.length), p.segment)).not.toBe(0xffff);
  });
});

describe('SCTP', () => {
  it('CRC32c matches the iSCSI/SCTP check values', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32cBitwise(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('INIT: verification tag 0, chunk fields, CRC32c stored least significant byte first', () => {
    const d = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'SCTP', sport: 36412, dport: 36412, sctp: { type: 'INIT', initiateTag: 0xcafebabe, initialTsn: 42, outStreams: 2, inStreams: 2, aRwnd: 65536 } });
    const s = parseIp(d).segment;
    expect(d[9]).toBe(132);
    expect(toHex(s.subarray(0, 8))).toBe('8e3c8e3c00000000');
    expect(toHex(s.subarray(12))).toBe('01000014' + 'cafebabe' + '00010000' + '0002' + '0002' + '0000002a');
    const zeroed = s.slice();
    zeroed.fill(0, 8, 12);
    const crc = crc32cBitwise(zeroed);
    expect(Array.from(s.subarray(8, 12))).toEqual([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24]);
  });

  it('DATA over IPv6: B/E flags, length without padding, padded to 4 bytes, CRC32c correct', () => {
    const d = ipPacket({ src: 'fd00::1', dst: 'fd00::2', proto: 'SCTP', sport: 5000, dport: 5001, payload: 'hello', sctp: { type: 'DATA', vtag: 7, tsn: 100, stream: 1, ssn: 2, ppid: 46 } });
    const s = parseIp(d).segment;
    expect(toHex(s.subarray(4, 8))).toBe('00000007');
    expect(toHex(s.subarray(12, 28))).toBe('0003' + '0015' + '00000064' + '0001' + '0002' + '0000002e');
    expect(s.length).toBe(12 + 24);
    expect(toHex(s.subarray(28))).toBe(toHex(new TextEncoder().encode('hello')) + '000000');
    const zeroed = s.slice();
    zeroed.fill(0, 8, 12);
    expect(new DataView(s.buffer, s.byteOffset).getUint32(8, true)).toBe(crc32cBitwise(zeroed));
  });
});

describe('IP layout', () => {
  it('IPv6 extension headers chain in the order given, payload length covers them', () => {
    const d = ipPacket({ src: 'fd00::1', dst: 'fd00::2', proto: 'TCP', sport: 1, dport: 2, ext: ['hop', 'dst', 'route', 'frag'] });
    const p = parseIp(d);
    expect(p.chain).toEqual([0, 60, 43, 44, 6]);
    expect((d[4]! << 8) | d[5]!).toBe(d.length - 40);
    expect(d.length).toBe(40 + 8 + 8 + 24 + 8 + 20);
    // the routing header: SRH, no segments left, its one segment is the destination
    expect(toHex(d.subarray(56, 64))).toBe('2c02040000000000');
    expect(toHex(d.subarray(64, 80))).toBe(toHex(d.subarray(24, 40)));
    // an atomic fragment header: offset 0, M clear
    expect(toHex(d.subarray(80, 88))).toBe('0600000000000000');
    expectTransportChecksumOk(d);
  });

  it('IPv4 fragment fields: MF, offset in 8-byte units, identification, no DF', () => {
    const first = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 1, dport: 2, payload: 'x'.repeat(16), frag: { offset: 0, more: true, id: 0x4242 } });
    expect(toHex(first.subarray(4, 8))).toBe('42422000');
    const later = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', payload: 'y'.repeat(8), frag: { offset: 24, more: false, id: 0x4242 } });
    expect(toHex(later.subarray(4, 8))).toBe('42420003');
    expect(toHex(later.subarray(20))).toBe('79'.repeat(8)); // raw data, no UDP header
  });

  for (const family of [4, 6] as const) {
    it(`fragmentPacket (IPv${family}): fragments reassemble into a segment whose checksum holds`, () => {
      const src = family === 4 ? '10.1.1.1' : 'fd00::1', dst = family === 4 ? '10.1.1.2' : 'fd00::2';
      const frags = fragmentPacket({ src, dst, proto: 'UDP', sport: 4000, dport: 4001, payload: 'z'.repeat(101), id: 99 }, 48);
      expect(frags).toHaveLength(3); // 109-byte segment: 48 + 48 + 13
      const pieces = frags.map((f) => {
        if (family === 4) {
          const fo = (f[6]! << 8) | f[7]!;
          return { more: (fo & 0x2000) !== 0, offset: (fo & 0x1fff) * 8, id: (f[4]! << 8) | f[5]!, data: f.subarray(20) };
        }
        expect(f[6]).toBe(44);
        const fo = (f[42]! << 8) | f[43]!;
        return { more: (fo & 1) === 1, offset: fo & 0xfff8, id: new DataView(f.buffer).getUint32(44), data: f.subarray(48) };
      });
      expect(pieces.map((p) => [p.offset, p.more, p.id])).toEqual([[0, true, 99], [48, true, 99], [96, false, 99]]);
      const seg = Buffer.concat(pieces.map((p) => p.data));
      expect(seg.length).toBe(109);
      const a = parseIp(ipPacket({ src, dst, proto: 'UDP' }));
      expect(wordSum(pseudoHeader(a.src, a.dst, 17, seg.length), seg)).toBe(0xffff);
    });
  }

  it('ICMP echo types: 8/0 for IPv4, 128/129 for ICMPv6, id and seq in network order', () => {
    const t = (src: string, dst: string, type: 'request' | 'reply'): string =>
      toHex(parseIp(ipPacket({ src, dst, proto: 'ICMP', icmp: { type, id: 0x1234, seq: 0x0506 } })).segment).replace(/^(..)..(....)/, '$1-');
    expect(t('10.0.0.1', '10.0.0.2', 'request')).toBe('08-12340506');
    expect(t('10.0.0.1', '10.0.0.2', 'reply')).toBe('00-12340506');
    expect(t('fd00::1', 'fd00::2', 'request')).toBe('80-12340506');
    expect(t('fd00::1', 'fd00::2', 'reply')).toBe('81-12340506');
  });

  it('refuses what cannot go on the wire, with PFSIM_ERR_USAGE', () => {
    const bad: IpPacketOptions[] = [
      { src: '10.0.0.1', dst: 'fd00::1', proto: 'TCP' },
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'TCP', sport: 70000 },
      { src: 'not-an-ip', dst: '10.0.0.2', proto: 'UDP' },
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', ext: ['hop'] },
      { src: 'fd00::1', dst: 'fd00::2', proto: 'UDP', ipOptions: ipv4RecordRoute() },
      { src: 'fd00::1', dst: 'fd00::2', proto: 'UDP', corrupt: 'ip' },
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', frag: { offset: 5, more: false, id: 1 } },
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', payload: new Uint8Array(65536) },
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', ipOptions: new Uint8Array(41) },
    ];
    for (const o of bad) {
      let err: unknown;
      try {
        ipPacket(o);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(o, (_, v: unknown) => (v instanceof Uint8Array ? `${v.length} bytes` : v))).toBeInstanceOf(PfsimError);
      expect((err as PfsimError).code).toBe('PFSIM_ERR_USAGE');
    }
    const ip = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP' });
    expect(() => frame(LINKTYPE_LINUX_SLL, ip, { vlan: 1 })).toThrow(/not Ethernet/);
    expect(() => frame(LINKTYPE_ETHERNET, ip, { srcMac: '00:11:22' })).toThrow(/MAC/);
  });
});

describe('link-layer headers', () => {
  const ip4 = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 1, dport: 2 });
  const ip6 = ipPacket({ src: 'fd00::1', dst: 'fd00::2', proto: 'UDP', sport: 1, dport: 2 });
  const macs = { srcMac: '0a:58:0a:f4:00:0b', dstMac: 'ee:ee:ee:ee:ee:ee' };

  it('Ethernet II, with 802.1Q, with 802.1ad + 802.1Q', () => {
    expect(toHex(frame(LINKTYPE_ETHERNET, ip4, macs).subarray(0, 14))).toBe('eeeeeeeeeeee0a580af4000b0800');
    expect(toHex(frame(LINKTYPE_ETHERNET, ip6, { ...macs, vlan: { id: 0x123, pcp: 5, dei: true } }).subarray(12, 18))).toBe('8100b12386dd');
    const q = frame(LINKTYPE_ETHERNET, ip4, { ...macs, qinq: { outer: 100, inner: { id: 200, pcp: 1 } } });
    expect(toHex(q.subarray(12, 22))).toBe('88a8' + '0064' + '8100' + '20c8' + '0800');
    expect(toHex(q.subarray(22))).toBe(toHex(ip4));
  });

  it('Ethernet padding to the 60-byte minimum leaves the IP datagram intact', () => {
    const f = frame(LINKTYPE_ETHERNET, ip4, { padToMinimum: true });
    expect(f.length).toBe(60);
    expect(toHex(f.subarray(14, 14 + ip4.length))).toBe(toHex(ip4));
    expect(f.subarray(14 + ip4.length).every((b) => b === 0)).toBe(true);
  });

  it('Linux SLL: packet type, ARPHRD_ETHER, address length, 8-byte address field, protocol', () => {
    const f = frame(LINKTYPE_LINUX_SLL, ip6, { srcMac: macs.srcMac, packetType: 'outgoing' });
    expect(toHex(f.subarray(0, 16))).toBe('0004' + '0001' + '0006' + '0a580af4000b0000' + '86dd');
    expect(toHex(f.subarray(16))).toBe(toHex(ip6));
  });

  it('Linux SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address', () => {
    const f = frame(LINKTYPE_LINUX_SLL2, ip4, { srcMac: macs.srcMac, packetType: 'host', ifindex: 0x01020304 });
    expect(toHex(f.subarray(0, 20))).toBe('0800' + '0000' + '01020304' + '0001' + '00' + '06' + '0a580af4000b0000');
    expect(toHex(f.subarray(20))).toBe(toHex(ip4));
  });

  it('raw IP is the datagram itself, copied', () => {
    const f = frame(LINKTYPE_RAW, ip4);
    expect(toHex(f)).toBe(toHex(ip4));
    expect(f).not.toBe(ip4);
  });
});

// ---- tcpdump reads the frames back ----

function findTcpdump(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin']) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, 'tcpdump'), fsConstants.X_OK);
      return join(dir, 'tcpdump');
    } catch {
      // not here
    }
  }
  return undefined;
}

const TCPDUMP = findTcpdump();
// CI installs tcpdump (scripts/setup.sh): there a missing one fails the tests instead of skipping them
const tcpdumpSkip = TCPDUMP === undefined && !process.env.CI ? 'tcpdump not found on PATH' : undefined;

/** Runs tcpdump on a file; returns one string per packet (a -v record may span lines). */
function tcpdumpRead(file: string, args: readonly string[] = []): { packets: string[]; stderr: string; code: number } {
  if (TCPDUMP === undefined) throw new Error('tcpdump not found on PATH; scripts/setup.sh installs it');
  const r = spawnSync(TCPDUMP, ['-r', file, '-nn', '-tt', ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  const packets = r.stdout.split(/\n(?=\d+\.\d+ )/).map((s) => s.trim()).filter((s) => s !== '');
  return { packets, stderr: r.stderr, code: r.status ?? -1 };
}

describe.skipIf(tcpdumpSkip !== undefined)(`tcpdump reads the frames${tcpdumpSkip ? ` [skipped: ${tcpdumpSkip}]` : ''}`, () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pfsim-frames-'));
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const packets: [string, IpPacketOptions, RegExp[]][] = [
    ['IPv4 TCP SYN with options', { src: '10.244.0.11', dst: '10.244.0.10', proto: 'TCP', sport: 40000, dport: 80, seq: 1000, tcpOptions: tcpOptions({ mss: 1460, sackPermitted: true, timestamp: [5, 0], wscale: 7 }) },
      [/proto TCP \(6\), length 60\)/, /10\.244\.0\.11\.40000 > 10\.244\.0\.10\.80: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\), seq 1000, win 64240, options \[mss 1460,sackOK,TS val 5 ecr 0,nop,wscale 7\], length 0/]],
    ['IPv4 TCP with IP options', { src: '10.0.0.1', dst: '10.0.0.2', proto: 'TCP', sport: 1, dport: 2, tcpFlags: ['PSH', 'ACK'], seq: 1, ack: 1, ipOptions: ipv4RecordRoute(), payload: 'data' },
      [/length 48, options \(NOP,RR\)\)/, /Flags \[P\.\], cksum 0x[0-9a-f]{4} \(correct\), seq 1:5, ack 1, win 64240, length 4/]],
    ['IPv4 RST', { src: '10.0.0.2', dst: '10.0.0.1', proto: 'TCP', sport: 2, dport: 1, tcpFlags: ['RST', 'ACK'], seq: 7, ack: 8, window: 0 },
      [/Flags \[R\.\], cksum 0x[0-9a-f]{4} \(correct\), seq 7, ack 8, win 0, length 0/]],
    ['IPv4 UDP', { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 5000, dport: 6000, payload: 'hello' },
      [/10\.0\.0\.1\.5000 > 10\.0\.0\.2\.6000: \[udp sum ok\] UDP, length 5/]],
    ['IPv4 ICMP', { src: '10.0.0.1', dst: '10.0.0.2', proto: 'ICMP', icmp: { type: 'request', id: 77, seq: 3 }, payload: 'abcdefgh' },
      [/ICMP echo request, id 77, seq 3, length 16/]],
    ['IPv4 SCTP INIT', { src: '10.0.0.1', dst: '10.0.0.2', proto: 'SCTP', sport: 3868, dport: 3868, sctp: { type: 'INIT', initiateTag: 0x1234, initialTsn: 9 } },
      [/10\.0\.0\.1\.3868 > 10\.0\.0\.2\.3868: sctp/, /\[INIT\] \[init tag: 4660\] \[rwnd: 106496\] \[OS: 10\] \[MIS: 65535\] \[init TSN: 9\]/]],
    ['IPv6 TCP SYN/ACK', { src: 'fd00:10:244::a', dst: 'fd00:10:244::b', proto: 'TCP', sport: 80, dport: 40000, tcpFlags: ['SYN', 'ACK'], seq: 5, ack: 1001, flowLabel: 0x12345 },
      [/flowlabel 0x12345, hlim 64, next-header TCP \(6\) payload length: 20\) fd00:10:244::a\.80 > fd00:10:244::b\.40000: Flags \[S\.\], cksum 0x[0-9a-f]{4} \(correct\), seq 5, ack 1001/]],
    ['IPv6 UDP behind extension headers', { src: 'fd00::1', dst: 'fd00::2', proto: 'UDP', sport: 1, dport: 2, ext: ['hop', 'dst', 'route'], payload: 'abc' },
      [/HBH \(padn\) DSTOPT \(padn\) RT6 \(len=2, type=4, segleft=0, last-entry=0, flags=0x0, tag=0, \[0\]fd00::2\) 1 > 2: \[udp sum ok\] UDP, length 3/]],
    ['ICMPv6 echo reply', { src: 'fd00::2', dst: 'fd00::1', proto: 'ICMP', icmp: { type: 'reply', id: 9, seq: 10 }, payload: 'pong' },
      [/\[icmp6 sum ok\] ICMP6, echo reply, id 9, seq 10/]],
    ['IPv6 SCTP DATA', { src: 'fd00::1', dst: 'fd00::2', proto: 'SCTP', sport: 9, dport: 10, payload: 'hi', sctp: { type: 'DATA', vtag: 1, tsn: 3 } },
      [/\[DATA\] \(B\)\(E\) \[TSN: 3\] \[SID: 0\] \[SSEQ 0\] \[PPID 0x0\]/]],
  ];

  const links: [string, LinkType, Parameters<typeof frame>[2], RegExp][] = [
    ['Ethernet', LINKTYPE_ETHERNET, { srcMac: '0a:58:0a:f4:00:0b', dstMac: '0a:58:0a:f4:00:01' }, /^\d+\.\d+ 0a:58:0a:f4:00:0b > 0a:58:0a:f4:00:01, ethertype IPv[46]/],
    ['802.1Q', LINKTYPE_ETHERNET, { vlan: { id: 5, pcp: 3 } }, /ethertype 802\.1Q \(0x8100\), length \d+: vlan 5, p 3, ethertype IPv[46]/],
    ['QinQ', LINKTYPE_ETHERNET, { qinq: { outer: 100, inner: 200 } }, /ethertype 802\.1Q-QinQ \(0x88a8\), length \d+: vlan 100, p 0, ethertype 802\.1Q \(0x8100\), vlan 200, p 0, ethertype IPv[46]/],
    ['Linux SLL', LINKTYPE_LINUX_SLL, { srcMac: '0a:58:0a:f4:00:0b', packetType: 'outgoing' }, /^\d+\.\d+ Out 0a:58:0a:f4:00:0b ethertype IPv[46]/],
    ['Linux SLL2', LINKTYPE_LINUX_SLL2, { srcMac: '0a:58:0a:f4:00:0b', packetType: 'host', ifindex: 7 }, /^\d+\.\d+ \S+\s+In\s+ifindex 7 0a:58:0a:f4:00:0b ethertype IPv[46]/],
    ['raw IP', LINKTYPE_RAW, {}, /^\d+\.\d+ ip6?: /],
  ];

  for (const [linkName, linkType, fopts, linkRe] of links) {
    it(`${linkName}: every packet decodes with correct checksums and no bad or truncated field`, () => {
      const file = join(dir, `${linkName.replace(/\W+/g, '-')}.pcap`);
      const w = new PcapWriter(file, { linkType });
      packets.forEach(([, o], i) => w.writePacket(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, frame(linkType, ipPacket(o), fopts)));
      w.close();
      const r = tcpdumpRead(file, ['-vv', '-e', '-S']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.packets).toHaveLength(packets.length);
      packets.forEach(([name, , res], i) => {
        const out = r.packets[i]!;
        expect(out, name).toMatch(linkRe);
        for (const re of res) expect(out, name).toMatch(re);
        expect(out, name).not.toMatch(/bad|truncated|invalid|\[\|/i);
      });
    });
  }

  it('fragments: tcpdump shows offsets, MF and the first fragment\'s ports', () => {
    const file = join(dir, 'frags.pcap');
    const w = new PcapWriter(file, { linkType: LINKTYPE_RAW });
    const frags = [
      ...fragmentPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 7, dport: 8, payload: 'q'.repeat(100), id: 321 }, 64),
      ...fragmentPacket({ src: 'fd00::1', dst: 'fd00::2', proto: 'UDP', sport: 7, dport: 8, payload: 'q'.repeat(100), id: 321 }, 64),
    ];
    frags.forEach((f, i) => w.writePacket({ sec: 1_700_000_000, nsec: i * 1000 }, f));
    w.close();
    const r = tcpdumpRead(file, ['-v']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.packets).toHaveLength(4);
    expect(r.packets[0]).toMatch(/id 321, offset 0, flags \[\+\], proto UDP \(17\), length 84\)\s+10\.0\.0\.1\.7 > 10\.0\.0\.2\.8: UDP, length 100/);
    expect(r.packets[1]).toMatch(/id 321, offset 64, flags \[none\], proto UDP \(17\), length 64\)/);
    expect(r.packets[2]).toMatch(/frag \(0x00000141:0\|64\) 7 > 8: UDP, length 100/);
    expect(r.packets[3]).toMatch(/frag \(0x00000141:64\|44\)/);
  });

  it('corrupted checksums are what tcpdump calls bad', () => {
    const file = join(dir, 'corrupt.pcap');
    const w = new PcapWriter(file, { linkType: LINKTYPE_RAW });
    const base: IpPacketOptions = { src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 1, dport: 2, payload: 'x' };
    w.writePacket(1_700_000_000_000_000_000n, ipPacket({ ...base, corrupt: 'ip' }));
    w.writePacket(1_700_000_000_000_001_000n, ipPacket({ ...base, corrupt: 'l4' }));
    w.writePacket(1_700_000_000_000_002_000n, ipPacket({ ...base, proto: 'TCP', corrupt: 'l4' }));
    w.close();
    const r = tcpdumpRead(file, ['-vv']);
    expect(r.packets[0]).toMatch(/bad cksum [0-9a-f]+ \(->[0-9a-f]+\)!/);
    expect(r.packets[0]).toMatch(/\[udp sum ok\]/);
    expect(r.packets[1]).toMatch(/\[bad udp cksum 0x[0-9a-f]{4} -> 0x[0-9a-f]{4}!\]/);
    expect(r.packets[2]).toMatch(/cksum 0x[0-9a-f]{4} \(incorrect -> 0x[0-9a-f]{4}\)/);
  });
});
