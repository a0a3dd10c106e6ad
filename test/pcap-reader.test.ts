/**
 * The capture reader (native parser + src/capture/reader.ts): hand-made fixtures
 * (test/fixtures/pcap/*.hex) with every field of every slot asserted, read whole and through
 * tiny chunks; round trips through the capture writers over many generated packets; file errors
 * with their byte offsets; the parser in worker threads.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { scratchDir } from './helpers/tmp.js';
import { writeDemoTraces, demoTraffic } from '../src/capture/demo-traces.js';
import {
  fragmentPacket,
  frame,
  ipPacket,
  ipv4RecordRoute,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type IpPacketOptions,
  type Ipv6Ext,
  type LinkType,
} from '../src/capture/frames.js';
import { PcapngWriter, PcapWriter, type ByteOrder, type TimestampResolution } from '../src/capture/pcap-writer.js';
import {
  CaptureError,
  META_WORDS,
  openCapture,
  PACKET_STATUSES,
  readMeta,
  skipReasonName,
  SKIP_BAD_IP_HEADER,
  SKIP_BAD_L4_HEADER,
  SKIP_FRAGMENT_NO_FIRST,
  SKIP_HEADER_LIMIT,
  SKIP_NOT_IP,
  SKIP_TRUNCATED,
  SKIP_TRUNCATED_RECORD,
  SKIP_UNKNOWN_LINK_TYPE,
  STATUS_OK,
  type CaptureMeta,
  type CaptureReaderOptions,
  type CaptureTotals,
} from '../src/capture/reader.js';
import { ADDON_PATH, packageRoot } from '../src/engines/native.js';
import { PKT_BYTES, PKT_F_ACK as ACK, PKT_F_FIN as FIN, PKT_F_RST as RST, PKT_F_SYN as SYN } from '../src/engines/packet.js';
import { PfsimError } from '../src/errors.js';
import { addrBytes, familyOf, parseIp } from '../src/net/ip.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'pcap');
const T0 = 1_700_000_000;

const tmp = scratchDir('pfsim-reader-');

/** Hex pairs, whitespace ignored, `#` comments to the end of the line. */
function parseHex(text: string): Uint8Array {
  const digits = text.split('\n').map((l) => l.replace(/#.*/, '')).join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error('not hex pairs');
  return Uint8Array.from(digits.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** Writes a hand-made fixture (or inline hex) to a temporary file; returns its path. */
function fixture(name: string): string {
  const path = tmp(name.replace(/\.hex$/, '.bin'));
  writeFileSync(path, parseHex(readFileSync(join(FIXTURES, name), 'utf8')));
  return path;
}
function bytesFile(name: string, b: Uint8Array | string): string {
  const path = tmp(name);
  writeFileSync(path, typeof b === 'string' ? parseHex(b) : b);
  return path;
}

interface Want {
  readonly src: string | bigint;
  readonly dst: string | bigint;
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly flags?: number;
}

const hostLe = endianness() === 'LE';
/** The 40 bytes of struct pf_pkt a packet should give, as hex; all zero for a skipped one. */
function pkt(w?: Want): string {
  const b = new Uint8Array(PKT_BYTES);
  if (w !== undefined) {
    const s = typeof w.src === 'bigint' ? w.src : parseIp(w.src)!;
    const d = typeof w.dst === 'bigint' ? w.dst : parseIp(w.dst)!;
    addrBytes(s, b, 0);
    addrBytes(d, b, 16);
    const u16 = (o: number, v: number): void => {
      b[o + (hostLe ? 0 : 1)] = v & 0xff;
      b[o + (hostLe ? 1 : 0)] = v >>> 8;
    };
    u16(32, w.sport ?? 0);
    u16(34, w.dport ?? 0);
    b[36] = w.proto;
    b[37] = familyOf(s);
    b[38] = w.flags ?? 0;
  }
  return Buffer.from(b).toString('hex');
}
const SKIPPED = pkt();

function meta(offset: number, sec: number, nsec: number, caplen: number, origlen: number, ifindex: number, linkType: number, status: number): CaptureMeta {
  return { offset, sec, nsec, caplen, origlen, ifindex, linkType, status };
}

interface Slot {
  readonly pkt: string;
  readonly meta: CaptureMeta;
}

/** Every slot of a file, copied out of the reused batch buffers. */
function readAll(path: string, opts: CaptureReaderOptions = {}): { slots: Slot[]; totals: CaptureTotals } {
  const slots: Slot[] = [];
  const r = openCapture(path, opts);
  for (const b of r) {
    expect(b.count).toBeGreaterThan(0);
    for (let i = 0; i < b.count; i++) {
      slots.push({ pkt: Buffer.from(b.pkts.subarray(i * PKT_BYTES, (i + 1) * PKT_BYTES)).toString('hex'), meta: readMeta(b.meta, i) });
    }
  }
  return { slots, totals: r.totals() };
}

async function readAllAsync(path: string, opts: CaptureReaderOptions = {}): Promise<Slot[]> {
  const slots: Slot[] = [];
  for await (const b of openCapture(path, opts)) {
    for (let i = 0; i < b.count; i++) {
      slots.push({ pkt: Buffer.from(b.pkts.subarray(i * PKT_BYTES, (i + 1) * PKT_BYTES)).toString('hex'), meta: readMeta(b.meta, i) });
    }
  }
  return slots;
}

/** The error a read of `path` throws. */
function readError(path: string, opts: CaptureReaderOptions = {}): { err: CaptureError; before: number } {
  let before = 0;
  try {
    for (const b of openCapture(path, opts)) before += b.count;
  } catch (e) {
    return { err: e as CaptureError, before };
  }
  throw new Error(`${path}: read without error`);
}

const slot = (p: string, m: CaptureMeta): Slot => ({ pkt: p, meta: m });

const FIXTURE_WANT: Record<string, readonly Slot[]> = {
  'pcap-us-le.hex': [
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, sport: 40000, dport: 80, flags: SYN }), meta(24, T0, 123456000, 54, 54, 0, 1, STATUS_OK)),
    slot(pkt({ src: '10.0.0.2', dst: '10.0.0.1', proto: 17, sport: 53, dport: 33000 }), meta(94, T0 + 1, 0, 50, 50, 0, 1, STATUS_OK)),
    slot(pkt({ src: 'fd00::2', dst: 'fd00::1', proto: 6, sport: 443, dport: 50000, flags: SYN | ACK }), meta(160, T0 + 2, 999999000, 82, 82, 0, 1, STATUS_OK)),
    slot(SKIPPED, meta(258, T0 + 3, 1000, 42, 42, 0, 1, SKIP_NOT_IP)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 132, sport: 5000, dport: 38412 }), meta(316, T0 + 4, 500000000, 54, 54, 0, 1, STATUS_OK)),
    slot(SKIPPED, meta(386, T0 + 5, 2000, 44, 54, 0, 1, SKIP_TRUNCATED)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 1111, dport: 2222 }), meta(446, T0 + 6, 3000, 60, 60, 0, 1, STATUS_OK)),
    slot(SKIPPED, meta(522, T0 + 7, 4000, 60, 60, 0, 1, SKIP_BAD_L4_HEADER)),
    // a microseconds field of 1000001 carries into the seconds
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 1 }), meta(598, T0 + 9, 1000, 42, 42, 0, 1, STATUS_OK)),
    slot(SKIPPED, meta(656, T0 + 9, 5000, 42, 42, 0, 1, SKIP_FRAGMENT_NO_FIRST)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 7000, dport: 8000 }), meta(714, T0 + 10, 6000, 42, 42, 0, 1, STATUS_OK)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 7000, dport: 8000 }), meta(772, T0 + 11, 7000, 42, 42, 0, 1, STATUS_OK)),
    slot(SKIPPED, meta(830, T0 + 12, 8000, 54, 54, 0, 1, SKIP_BAD_IP_HEADER)),
    slot(SKIPPED, meta(900, T0 + 13, 9000, 54, 54, 0, 1, SKIP_BAD_IP_HEADER)),
  ],
  'pcap-ns-be.hex': [
    slot(pkt({ src: '10.0.0.2', dst: '10.0.0.1', proto: 1 }), meta(24, T0, 987654321, 28, 28, 0, 101, STATUS_OK)),
    slot(pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 17, sport: 5353, dport: 5354 }), meta(68, T0 + 1, 1, 96, 96, 0, 101, STATUS_OK)),
    slot(pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 17, sport: 5353, dport: 5354 }), meta(180, T0 + 2, 2, 88, 88, 0, 101, STATUS_OK)),
    slot(pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 58 }), meta(284, T0 + 3, 999999999, 48, 48, 0, 101, STATUS_OK)),
    slot(SKIPPED, meta(348, T0 + 4, 0, 28, 28, 0, 101, SKIP_BAD_IP_HEADER)),
    slot(SKIPPED, meta(392, T0 + 5, 3, 30, 48, 0, 101, SKIP_TRUNCATED)),
  ],
  'pcapng-le.hex': [
    slot(pkt({ src: '10.0.0.2', dst: '10.0.0.1', proto: 6, sport: 80, dport: 40000, flags: FIN | ACK }), meta(92, T0, 123456789, 60, 60, 1, 276, STATUS_OK)),
    slot(pkt({ src: 'fd00::1', dst: 'ff02::fb', proto: 17, sport: 5353, dport: 5353 }), meta(184, T0 + 1, 2000, 65, 65, 0, 1, STATUS_OK)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 1111, dport: 2222 }), meta(352, 0, 0, 42, 42, 0, 1, STATUS_OK)),
    slot(pkt({ src: '10.1.1.1', dst: '10.1.1.2', proto: 17, sport: 67, dport: 68 }), meta(444, T0, 500000000, 28, 28, 2, 228, STATUS_OK)),
    slot(pkt({ src: '10.0.0.2', dst: '10.0.0.1', proto: 6, sport: 80, dport: 40001, flags: RST }), meta(536, T0 + 2, 345000000, 56, 56, 3, 113, STATUS_OK)),
    slot(SKIPPED, meta(644, 0, 0, 4, 4, 4, 147, SKIP_UNKNOWN_LINK_TYPE)),
    slot(SKIPPED, meta(680, T0 + 3, 0, 48, 48, 1, 276, SKIP_NOT_IP)),
  ],
  'pcapng-be.hex': [
    slot(pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 6, sport: 50000, dport: 443, flags: FIN | ACK }), meta(72, T0 + 100, 7000, 60, 60, 0, 229, STATUS_OK)),
    slot(pkt({ src: 'fd00::2', dst: 'fd00::1', proto: 17, sport: 53, dport: 1053 }), meta(164, T0 + 100, 8000, 48, 48, 0, 229, STATUS_OK)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 1 }), meta(264, 0, 0, 32, 32, 1, 0, STATUS_OK)),
    slot(pkt({ src: 'fd00::2', dst: 'fd00::1', proto: 58 }), meta(348, 0, 1000, 52, 52, 2, 108, STATUS_OK)),
    slot(SKIPPED, meta(480, T0, 0, 42, 42, 3, 1, SKIP_NOT_IP)),
    slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, sport: 40000, dport: 80, flags: SYN }), meta(556, T0, 1000, 54, 54, 3, 1, STATUS_OK)),
  ],
};

const FIXTURE_TOTALS: Record<string, { format: string; bytes: number; sections: number; interfaces: number }> = {
  'pcap-us-le.hex': { format: 'pcap', bytes: 970, sections: 0, interfaces: 0 },
  'pcap-ns-be.hex': { format: 'pcap', bytes: 438, sections: 0, interfaces: 0 },
  'pcapng-le.hex': { format: 'pcapng', bytes: 772, sections: 1, interfaces: 5 },
  'pcapng-be.hex': { format: 'pcapng', bytes: 644, sections: 2, interfaces: 4 },
};

describe('hand-made fixtures', () => {
  for (const [name, want] of Object.entries(FIXTURE_WANT)) {
    it(`${name}: every field of every slot`, () => {
      const { slots, totals } = readAll(fixture(name));
      expect(slots).toEqual(want);
      const skippedBy = Object.fromEntries(PACKET_STATUSES.slice(1).map((r, i) => [r, want.filter((s) => s.meta.status === i + 1).length]));
      const ok = want.filter((s) => s.meta.status === STATUS_OK).length;
      expect(totals).toEqual({
        ...FIXTURE_TOTALS[name], packets: want.length, ok, skipped: want.length - ok, skippedBy,
        fragRemembered: name === 'pcap-us-le.hex' || name === 'pcap-ns-be.hex' ? 1 : 0, fragEvicted: 0,
      });
    });

    it(`${name}: the same through 16-byte chunks, batches of 1 and 3, and for await`, async () => {
      const path = fixture(name);
      expect(readAll(path, { chunkBytes: 16, batchSize: 1 }).slots).toEqual(want);
      expect(readAll(path, { chunkBytes: 17, batchSize: 3 }).slots).toEqual(want);
      expect(await readAllAsync(path, { chunkBytes: 64, batchSize: 2 })).toEqual(want);
    });
  }

  it('names every status', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(skipReasonName)).toEqual([
      'ok', 'not-ip', 'truncated', 'unknown-link-type', 'fragment-no-first', 'bad-ip-header', 'bad-l4-header', 'header-limit', 'truncated-record', 'unknown-9',
    ]);
  });
});

// --- decoder edge cases -----------------------------------------------------------------------

/**
 * A pcap (microseconds, little-endian, timestamps 0) holding hand-written frames; only the
 * 16-byte record headers are filled in here.
 */
function pcapOf(name: string, linkTypeField: number, frames: readonly string[]): string {
  const parts: Uint8Array[] = [parseHex('d4c3b2a1 0200 0400 00000000 00000000 00000400'), new Uint8Array(4)];
  new DataView(parts[1]!.buffer).setUint32(0, linkTypeField, true);
  for (const f of frames) {
    const b = parseHex(f);
    const h = new Uint8Array(16);
    new DataView(h.buffer).setUint32(8, b.length, true);
    new DataView(h.buffer).setUint32(12, b.length, true);
    parts.push(h, b);
  }
  return bytesFile(name, Buffer.concat(parts));
}

const MACS = '020000000002 020000000001';
const V4_UDP = '4500001c 00000000 40110000 0a000001 0a000002 045708ae 00080000';
const A1 = 'fd000000000000000000000000000001', A2 = 'fd000000000000000000000000000002';
const V6_UDP = `60000000 0008 11 40 ${A1} ${A2} 045708ae 00080000`;
const udp4 = pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 1111, dport: 2222 });
const udp6 = pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 17, sport: 1111, dport: 2222 });

describe('decoder edge cases', () => {
  const cases: [string, number, string, string, number][] = [
    ['8 VLAN tags', 1, MACS + '8100 0001'.repeat(8) + '0800' + V4_UDP, udp4, STATUS_OK],
    ['9 VLAN tags', 1, MACS + '8100 0001'.repeat(9) + '0800' + V4_UDP, SKIPPED, SKIP_HEADER_LIMIT],
    ['pre-802.1ad QinQ tag 0x9100', 1, MACS + '9100 0005 8100 0006 0800' + V4_UDP, udp4, STATUS_OK],
    ['802.3 length and LLC/SNAP', 1, MACS + '0026 aaaa03 000000 0800' + V4_UDP, SKIPPED, SKIP_NOT_IP],
    ['Ethernet header cut', 1, '02000000000202000000', SKIPPED, SKIP_TRUNCATED],
    ['VLAN tag cut', 1, MACS + '8100 00', SKIPPED, SKIP_TRUNCATED],
    ['IPv4 total length 0 (segmentation offload)', 1, MACS + '0800 45000000 00000000 40110000 0a000001 0a000002 045708ae 00080000', udp4, STATUS_OK],
    ['IPv4 total length 0 and options cut', 1, MACS + '0800 46000000 00000000 40110000 0a000001 0a000002 0101', SKIPPED, SKIP_TRUNCATED],
    ['IPv4 total length under the header', 1, MACS + '0800 45000010 00000000 40110000 0a000001 0a000002 045708ae 00080000', SKIPPED, SKIP_BAD_IP_HEADER],
    ['IPv4 options cut', 1, MACS + '0800 4f00003c 00000000 40110000 0a000001 0a000002 01010101', SKIPPED, SKIP_TRUNCATED],
    ['TCP data offset 4', 1, MACS + '0800 45000028 00000000 40060000 0a000001 0a000002 9c400050 00000001 00000000 4002faf0 00000000', SKIPPED, SKIP_BAD_L4_HEADER],
    ['TCP flags: PSH, URG, ECE, CWR are not kept', 1, MACS + '0800 45000028 00000000 40060000 0a000001 0a000002 9c400050 00000001 00000000 50fffaf0 00000000',
      pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, sport: 40000, dport: 80, flags: FIN | SYN | RST | ACK }), STATUS_OK],
    ['IPv4 protocol without ports (GRE)', 1, MACS + '0800 45000018 00000000 402f0000 0a000001 0a000002 00000800', pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 47 }), STATUS_OK],
    ['8 IPv6 extension headers', 101, `60000000 0048 3c 40 ${A1} ${A2}` + '3c000104 00000000'.repeat(7) + '11000104 00000000' + '045708ae 00080000', udp6, STATUS_OK],
    ['9 IPv6 extension headers', 101, `60000000 0050 3c 40 ${A1} ${A2}` + '3c000104 00000000'.repeat(8) + '11000104 00000000' + '045708ae 00080000', SKIPPED, SKIP_HEADER_LIMIT],
    ['IPv6 authentication header', 101, `60000000 002c 33 40 ${A1} ${A2} 06040000 00000001 00000001 00000000 00000000 00000000 9c400050 00000001 00000000 5002faf0 00000000`,
      pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 6, sport: 40000, dport: 80, flags: SYN }), STATUS_OK],
    ['IPv6 ESP stops the walk', 101, `60000000 0010 32 40 ${A1} ${A2} 00000001 00000001 00000000 00000000`, pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 50 }), STATUS_OK],
    ['IPv6 no next header', 101, `60000000 0000 3b 40 ${A1} ${A2}`, pkt({ src: 'fd00::1', dst: 'fd00::2', proto: 59 }), STATUS_OK],
    ['IPv6 extension header past the payload length', 101, `60000000 0008 00 40 ${A1} ${A2} 11010000 00000000 00000000 00000000`, SKIPPED, SKIP_BAD_IP_HEADER],
    ['IPv6 extension header cut', 101, `60000000 0010 00 40 ${A1} ${A2} 11`, SKIPPED, SKIP_TRUNCATED],
    ['IPv6 payload too short for TCP', 101, `60000000 0004 06 40 ${A1} ${A2} 9c400050 00000001 00000000 5002faf0 00000000`, SKIPPED, SKIP_BAD_L4_HEADER],
    ['IPv6 atomic fragment (offset 0, no M)', 101, `60000000 0010 2c 40 ${A1} ${A2} 11000000 00000007 045708ae 00080000`, udp6, STATUS_OK],
    ['IPv4 in LINKTYPE_IPV6', 229, V4_UDP, SKIPPED, SKIP_BAD_IP_HEADER],
    ['IPv6 in LINKTYPE_IPV6', 229, V6_UDP, udp6, STATUS_OK],
    ['IPv4 in LINKTYPE_IPV4', 228, V4_UDP, udp4, STATUS_OK],
    ['raw DLT 12', 12, V6_UDP, udp6, STATUS_OK],
    ['raw DLT 14', 14, V4_UDP, udp4, STATUS_OK],
    ['raw, empty', 101, '', SKIPPED, SKIP_TRUNCATED],
    ['NULL, little-endian AF_INET', 0, '02000000' + V4_UDP, udp4, STATUS_OK],
    ['NULL, little-endian AF_INET6 (macOS 30)', 0, '1e000000' + V6_UDP, udp6, STATUS_OK],
    ['NULL, Linux AF_INET6 (10)', 0, '0a000000' + V6_UDP, udp6, STATUS_OK],
    ['NULL, another family', 0, '07000000' + V4_UDP, SKIPPED, SKIP_NOT_IP],
    ['LOOP, AF_INET', 108, '00000002' + V4_UDP, udp4, STATUS_OK],
    ['SLL, not IP (ARP)', 113, '0000 0001 0006 020000000001 0000 0806' + '0001 0800 0604 0001', SKIPPED, SKIP_NOT_IP],
    ['SLL with an 802.1Q tag', 113, '0000 0001 0006 020000000001 0000 8100 0064 0800' + V4_UDP, udp4, STATUS_OK],
    ['SLL2 header cut', 276, '0800 0000 00000001 0001 00 06', SKIPPED, SKIP_TRUNCATED],
    ['Ethernet with the FCS bits of the link type field', 0x10000001, MACS + '0800' + V4_UDP + 'deadbeef', udp4, STATUS_OK],
    ['unknown link type', 147, '00', SKIPPED, SKIP_UNKNOWN_LINK_TYPE],
  ];
  for (const [what, lt, frameHex, want, status] of cases) {
    it(what, () => {
      const path = pcapOf(`edge-${what.replace(/\W+/g, '-')}`, lt, [frameHex]);
      const n = parseHex(frameHex).length;
      expect(readAll(path).slots).toEqual([slot(want, meta(24, 0, 0, n, n, 0, lt & 0xffff, status))]);
    });
  }

  it('the fragment table is bounded: 5000 first fragments in flight push 4096+ out', () => {
    const frags = Array.from({ length: 5000 }, (_, k) => fragmentPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: k, dport: 53, id: k, payload: new Uint8Array(16) }, 16));
    const path = tmp('frag-flood.pcap');
    const w = new PcapWriter(path, { linkType: LINKTYPE_RAW });
    for (const f of frags) w.writePacket(0n, f[0]!);
    for (const f of frags) w.writePacket(0n, f[1]!);
    w.close();
    const { slots, totals } = readAll(path);
    expect(totals.fragRemembered).toBe(5000);
    expect(totals.fragEvicted).toBeGreaterThanOrEqual(5000 - 4096);
    expect(totals.skippedBy['fragment-no-first']).toBe(totals.fragEvicted);
    // a later fragment gets its own first fragment's ports, or none: never another's
    slots.slice(5000).forEach((s, k) => {
      if (s.meta.status === STATUS_OK) expect(s.pkt).toBe(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: k, dport: 53 }));
      else expect(s.meta.status).toBe(SKIP_FRAGMENT_NO_FIRST);
    });
  });
});

// --- file errors -------------------------------------------------------------------------------

const PCAP_LE = 'd4c3b2a1 0200 0400 00000000 00000000 00000400 01000000';
// 10.0.0.1:40000 -> 10.0.0.2:80 SYN over Ethernet, 54 bytes
const ETH_SYN = `020000000002 020000000001 0800
  45000028 00014000 40060000 0a000001 0a000002
  9c400050 00000001 00000000 5002faf0 00000000`;
const PCAPNG_SHB_LE = '0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000';
const PCAPNG_IDB_ETH = '01000000 14000000 0100 0000 00000400 14000000';

describe('file errors name the byte offset', () => {
  const cases: [string, string, number, string][] = [
    ['empty file', '', 0, 'empty file: no pcap or pcapng header'],
    ['bad magic', '00112233' + '00'.repeat(20), 0, 'not a pcap or pcapng file: magic 0x00112233'],
    ['magic cut short', 'd4c3', 0, 'truncated file header (2 of 4 bytes)'],
    ['global header cut short', 'd4c3b2a1 0200 0400 0000', 10, 'truncated pcap file header (10 of 24 bytes)'],
    ['pcap version 1', 'd4c3b2a1 0100 0000 00000000 00000000 00000400 01000000', 4, 'pcap version 1.0: only 2.x is read'],
    ['record header cut at the end', PCAP_LE + '00f15365 000000', 24, 'truncated record header (7 of 16 bytes)'],
    ['record caplen of 4 GiB', PCAP_LE + '00f15365 00000000 ffffffff ffffffff', 32, 'record caplen 4294967295 exceeds 262144'],
    ['pcapng byte-order magic', '0a0d0d0a 1c000000 44332211 0100 0000 ffffffffffffffff 1c000000', 8,
      'section header byte-order magic 0x11223344 is 0x1a2b3c4d in neither order'],
    ['pcapng version 2', '0a0d0d0a 1c000000 4d3c2b1a 0200 0000 ffffffffffffffff 1c000000', 12, 'pcapng version 2.0: only 1.x is read'],
    ['pcapng trailer', PCAPNG_SHB_LE + '01000000 14000000 0100 0000 00000400 18000000', 44, "block trailer length 24 differs from the header's 20"],
    ['pcapng length not a multiple of 4', PCAPNG_SHB_LE + '01000000 13000000 0100 0000 00000400 13000000', 32,
      'block length 19 is not a multiple of 4 of at least 12'],
    ['pcapng packet on an undescribed interface', PCAPNG_SHB_LE + PCAPNG_IDB_ETH + '06000000 24000000 05000000 00000000 00000000 04000000 04000000 deadbeef 24000000', 56,
      'packet on interface 5, but the section describes 1'],
    ['pcapng caplen over the block', PCAPNG_SHB_LE + PCAPNG_IDB_ETH + '06000000 24000000 00000000 00000000 00000000 08000000 08000000 deadbeef 24000000', 68,
      'packet caplen 8 overruns its block of 36 bytes'],
    ['pcapng caplen of 4 GiB', PCAPNG_SHB_LE + PCAPNG_IDB_ETH + '06000000 24000000 00000000 00000000 00000000 ffffffff ffffffff deadbeef 24000000', 68,
      'packet caplen 4294967295 exceeds 262144'],
    ['pcapng block of 2 GiB', PCAPNG_SHB_LE + '01000000 f0ffff7f 0100 0000', 32, 'block length 2147483632 exceeds 327680'],
    ['pcapng if_tsresol 10^-20', PCAPNG_SHB_LE + '01000000 20000000 0100 0000 00000400 09000100 14000000 00000000 20000000', 48, 'if_tsresol 0x14 is out of range'],
    ['pcapng option overrun', PCAPNG_SHB_LE + '01000000 20000000 0100 0000 00000400 09004000 06000000 00000000 20000000', 44,
      'interface option 9 of 64 bytes overruns its block'],
    ['pcapng interface block cut at the end', PCAPNG_SHB_LE + '01000000 14000000 0100 0000', 28,
      'truncated block: type 0x00000001 of 20 bytes, the file ends 8 bytes short'],
    ['pcapng block header cut at the end', PCAPNG_SHB_LE + PCAPNG_IDB_ETH + '060000', 48, 'truncated block header (3 of 8 bytes)'],
    ['pcapng skipped block cut at the end', PCAPNG_SHB_LE + '78563412 e8030000' + '00'.repeat(100), 28,
      'truncated block: type 0x12345678 of 1000 bytes, the file ends 892 bytes short'],
    ['pcapng skipped block trailer', PCAPNG_SHB_LE + '78563412 10000000 01020304 14000000', 40, "block trailer length 20 differs from the header's 16"],
    ['pcapng packet before any interface', PCAPNG_SHB_LE + '06000000 24000000 00000000 00000000 00000000 04000000 04000000 deadbeef 24000000', 36,
      'packet on interface 0, but the section describes 0'],
  ];
  for (const [what, hex, offset, msg] of cases) {
    it(what, () => {
      for (const opts of [{}, { chunkBytes: 16, batchSize: 1 }]) {
        const path = bytesFile(`err-${what.replace(/\W+/g, '-')}`, hex);
        const { err } = readError(path, opts);
        expect(err).toBeInstanceOf(CaptureError);
        expect(err.code).toBe('PFSIM_ERR_CAPTURE');
        expect(err.offset).toBe(offset);
        expect(err.file).toBe(path);
        expect(err.message).toBe(`${path}: byte offset ${offset}: ${msg}`);
      }
    });
  }

  it('hands out every packet before the fault, then throws', () => {
    const path = bytesFile('err-after-good', PCAP_LE + '00f15365 00000000 36000000 36000000' + ETH_SYN + '01f15365 00000000 ffffffff ffffffff');
    for (const opts of [{}, { chunkBytes: 16, batchSize: 1 }, { batchSize: 4 }]) {
      const { err, before } = readError(path, opts);
      expect(before).toBe(1);
      expect(err.message).toBe(`${path}: byte offset 102: record caplen 4294967295 exceeds 262144`);
    }
  });

  it('a file that cannot be opened is PFSIM_ERR_INPUT_READ', () => {
    const missing = tmp('no-such-file.pcap');
    expect(() => openCapture(missing)).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_INPUT_READ', message: `${missing}: cannot open: ENOENT` }));
  });

  it('bad options are PFSIM_ERR_USAGE', () => {
    const path = fixture('pcap-us-le.hex');
    expect(() => openCapture(path, { batchSize: 0 })).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_USAGE' }));
    expect(() => openCapture(path, { chunkBytes: 1.5 })).toThrow(PfsimError);
  });
});

describe('a record cut by the end of the file is a truncated-record slot, not an error', () => {
  it('pcap: the last record header is whole, its data is not', () => {
    const path = bytesFile('cut-pcap', PCAP_LE + '00f15365 40e20100 36000000 36000000' + ETH_SYN + '01f15365 02000000 36000000 40000000' + '020000000002020000000001');
    for (const opts of [{}, { chunkBytes: 16, batchSize: 1 }]) {
      const { slots, totals } = readAll(path, opts);
      expect(slots).toEqual([
        slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, sport: 40000, dport: 80, flags: SYN }), meta(24, T0, 123456000, 54, 54, 0, 1, STATUS_OK)),
        slot(SKIPPED, meta(94, T0 + 1, 2000, 54, 64, 0, 1, SKIP_TRUNCATED_RECORD)),
      ]);
      expect(totals.skippedBy['truncated-record']).toBe(1);
      expect(totals.bytes).toBe(122);
    }
  });

  it('pcapng: an enhanced packet block whose fixed fields are whole', () => {
    const path = bytesFile('cut-pcapng', PCAPNG_SHB_LE + PCAPNG_IDB_ETH + '06000000 58000000 00000000 240a0600 00401e18 36000000 36000000' + '020000000002020000000001');
    const { slots, totals } = readAll(path, { chunkBytes: 16, batchSize: 1 });
    expect(slots).toEqual([slot(SKIPPED, meta(48, T0, 0, 54, 54, 0, 1, SKIP_TRUNCATED_RECORD))]);
    expect(totals).toMatchObject({ packets: 1, ok: 0, skipped: 1, bytes: 88 });
  });
});

// --- round trips through the writers -----------------------------------------------------------

/** xorshift32 */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

interface Generated {
  readonly opts: IpPacketOptions;
  readonly want: Want;
}

const PROTOS = ['TCP', 'UDP', 'SCTP', 'ICMP'] as const;
const PROTO_NUM = { TCP: 6, UDP: 17, SCTP: 132 } as const;
const EXTS: readonly Ipv6Ext[][] = [[], ['hop'], ['dst'], ['hop', 'route', 'dst'], ['route'], ['hop', 'dst', 'route', 'dst']];
const TCP_BITS = [TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_PSH | TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK, 0xff];

function addr(r: (n: number) => number, v6: boolean): string {
  return v6 ? `fd00:${r(0x10000).toString(16)}::${r(0x10000).toString(16)}` : `10.${r(256)}.${r(256)}.${r(256)}`;
}

/** A random datagram and the record the reader should make of it. */
function generate(r: (n: number) => number): Generated {
  const v6 = r(3) === 0;
  const proto = PROTOS[r(PROTOS.length)]!;
  const src = addr(r, v6), dst = addr(r, v6);
  const sport = r(65536), dport = r(65536), bits = TCP_BITS[r(TCP_BITS.length)]!;
  const opts: IpPacketOptions = {
    src, dst, proto, sport, dport, tcpFlags: bits, payload: new Uint8Array(r(200)),
    ...(v6 ? { ext: EXTS[r(EXTS.length)]! } : r(4) === 0 ? { ipOptions: ipv4RecordRoute(r(8)) } : {}),
  };
  const want: Want = proto === 'ICMP'
    ? { src, dst, proto: v6 ? 58 : 1 }
    : { src, dst, proto: PROTO_NUM[proto], sport, dport, flags: proto === 'TCP' ? bits & (FIN | SYN | RST | ACK) : 0 };
  return { opts, want };
}

function frameOpts(r: (n: number) => number, lt: LinkType): Parameters<typeof frame>[2] {
  if (lt !== LINKTYPE_ETHERNET) return { packetType: (['host', 'outgoing', 'broadcast'] as const)[r(3)]! };
  switch (r(4)) {
    case 0: return { vlan: r(4096) };
    case 1: return { qinq: { outer: r(4096), inner: r(4096) } };
    case 2: return { padToMinimum: true };
    default: return {};
  }
}

const LINK_TYPES: readonly LinkType[] = [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW];
const tsOf = (k: number): bigint => BigInt(T0) * 1_000_000_000n + BigInt(k) * 1_234_567_891n;

describe('round trips through the capture writers', () => {
  for (const [resolution, byteOrder] of [['us', 'le'], ['ns', 'be'], ['ns', 'le'], ['us', 'be']] as [TimestampResolution, ByteOrder][]) {
    for (const lt of LINK_TYPES) {
      it(`pcap ${resolution} ${byteOrder}, link type ${lt}: 1500 packets`, () => {
        const r = rng(lt * 7 + (resolution === 'us' ? 1 : 2) + (byteOrder === 'le' ? 10 : 20));
        const path = tmp(`rt-${resolution}-${byteOrder}-${lt}.pcap`);
        const w = new PcapWriter(path, { linkType: lt, resolution, byteOrder });
        const want: Slot[] = [];
        let off = 24;
        for (let k = 0; k < 1500; k++) {
          const g = generate(r);
          const f = frame(lt, ipPacket(g.opts), frameOpts(r, lt));
          const ts = tsOf(k);
          w.writePacket(ts, f);
          const nsec = Number(ts % 1_000_000_000n);
          want.push(slot(pkt(g.want), meta(off, Number(ts / 1_000_000_000n), resolution === 'us' ? Math.floor(nsec / 1000) * 1000 : nsec, f.length, f.length, 0, lt, STATUS_OK)));
          off += 16 + f.length;
        }
        w.close();
        const { slots, totals } = readAll(path);
        expect(slots).toEqual(want);
        expect(totals).toMatchObject({ format: 'pcap', packets: 1500, ok: 1500, bytes: off });
        expect(readAll(path, { chunkBytes: 100, batchSize: 7 }).slots).toEqual(want);
      });
    }
  }

  it('pcapng: interfaces of four link types and both resolutions, enhanced and simple packets, unknown blocks', () => {
    const r = rng(99);
    const path = tmp('rt.pcapng');
    const ifs: { linkType: LinkType; resolution: TimestampResolution; snaplen?: number }[] = [
      { linkType: LINKTYPE_ETHERNET, resolution: 'us' as const, snaplen: 0 },
      { linkType: LINKTYPE_LINUX_SLL2, resolution: 'ns' as const },
      { linkType: LINKTYPE_RAW, resolution: 'us' as const },
      { linkType: LINKTYPE_LINUX_SLL, resolution: 'ns' as const },
    ];
    for (const byteOrder of ['le', 'be'] as const) {
      const w = new PcapngWriter(path, { byteOrder, interfaces: ifs });
      const want: Slot[] = [];
      for (let k = 0; k < 3000; k++) {
        const g = generate(r);
        const kind = r(10);
        if (kind === 0) w.writeBlock(0x40000000 + r(1000), new Uint8Array(r(64)));
        const id = kind === 1 ? 0 : r(ifs.length);
        const lt: LinkType = ifs[id]!.linkType;
        const f = frame(lt, ipPacket(g.opts), frameOpts(r, lt));
        const ts = tsOf(k);
        const nsec = Number(ts % 1_000_000_000n);
        if (kind === 1) {
          w.writeSimplePacket(f);
          want.push(slot(pkt(g.want), meta(-1, 0, 0, f.length, f.length, 0, lt, STATUS_OK)));
        } else {
          w.writePacket(id, ts, f);
          want.push(slot(pkt(g.want), meta(-1, Number(ts / 1_000_000_000n), ifs[id]!.resolution === 'us' ? Math.floor(nsec / 1000) * 1000 : nsec, f.length, f.length, id, lt, STATUS_OK)));
        }
      }
      w.close();
      const file = readFileSync(path);
      const view = new DataView(file.buffer, file.byteOffset, file.length);
      const { slots, totals } = readAll(path, { batchSize: 1000 });
      expect(slots.map((s) => ({ ...s, meta: { ...s.meta, offset: -1 } }))).toEqual(want);
      // each offset is the start of an enhanced (6) or simple (3) packet block
      let prev = 0;
      for (const s of slots) {
        expect(s.meta.offset).toBeGreaterThan(prev);
        expect([3, 6]).toContain(view.getUint32(s.meta.offset, byteOrder === 'le'));
        prev = s.meta.offset;
      }
      expect(totals).toMatchObject({ format: 'pcapng', packets: 3000, ok: 3000, sections: 1, interfaces: 4, bytes: file.length });
      expect(readAll(path, { chunkBytes: 33, batchSize: 5 }).slots).toEqual(slots);
    }
  });

  it('fragments: every fragment gets its first fragment\'s ports; those before their first are fragment-no-first', () => {
    const r = rng(7);
    const path = tmp('rt-frag.pcap');
    const w = new PcapWriter(path, { linkType: LINKTYPE_ETHERNET });
    const want: Slot[] = [];
    let off = 24, fragmented = 0, early = 0;
    for (let k = 0; k < 400; k++) {
      const v6 = k % 2 === 1;
      const proto = (['TCP', 'UDP', 'SCTP'] as const)[r(3)]!;
      const src = addr(r, v6), dst = addr(r, v6), sport = r(65536), dport = r(65536);
      const frags = fragmentPacket({
        src, dst, proto, sport, dport, tcpFlags: TCP_ACK, id: v6 ? r(2 ** 31) * 2 + 1 : r(65536), payload: new Uint8Array(100 + r(300)),
        ...(v6 && r(2) ? { ext: ['hop', 'route'] as Ipv6Ext[] } : {}),
      }, 8 * (8 + r(8)));
      // every fifth datagram sends its last fragment first
      const order = frags.map((_, i) => i);
      const reorder = k % 5 === 0 && frags.length > 1;
      if (reorder) order.unshift(order.pop()!);
      if (frags.length > 1) fragmented++;
      if (reorder) early++;
      for (const i of order) {
        const f = frame(LINKTYPE_ETHERNET, frags[i]!);
        w.writePacket(tsOf(k), f);
        const lost = reorder && i === frags.length - 1;
        // the first fragment carries the TCP header and its flags; later ones take ports only
        const p = lost ? SKIPPED : pkt({ src, dst, proto: PROTO_NUM[proto], sport, dport, flags: proto === 'TCP' && i === 0 ? ACK : 0 });
        want.push(slot(p, meta(off, Number(tsOf(k) / 1_000_000_000n), Math.floor(Number(tsOf(k) % 1_000_000_000n) / 1000) * 1000, f.length, f.length, 0, 1, lost ? SKIP_FRAGMENT_NO_FIRST : STATUS_OK)));
        off += 16 + f.length;
      }
    }
    w.close();
    const { slots, totals } = readAll(path);
    expect(slots).toEqual(want);
    expect(fragmented).toBeGreaterThan(350);
    expect(totals.fragRemembered).toBe(fragmented);
    expect(totals.skippedBy['fragment-no-first']).toBe(early);
  });

  it('a snaplen that cuts headers gives truncated, one that cuts payload does not', () => {
    const path = tmp('rt-snap.pcap');
    const w = new PcapWriter(path, { linkType: LINKTYPE_ETHERNET, snaplen: 50 });
    const tcp = frame(LINKTYPE_ETHERNET, ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'TCP', sport: 1, dport: 2 }));
    const udp = frame(LINKTYPE_ETHERNET, ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 1, dport: 2, payload: new Uint8Array(100) }));
    w.writePacket(0n, tcp);
    w.writePacket(0n, udp);
    w.close();
    expect(readAll(path).slots).toEqual([
      slot(SKIPPED, meta(24, 0, 0, 50, 54, 0, 1, SKIP_TRUNCATED)),
      slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 1, dport: 2 }), meta(90, 0, 0, 50, 142, 0, 1, STATUS_OK)),
    ]);
  });

  it('a record larger than the chunk grows the chunk', () => {
    const path = tmp('rt-big.pcap');
    const w = new PcapWriter(path, { linkType: LINKTYPE_ETHERNET });
    const big = frame(LINKTYPE_ETHERNET, ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 9, dport: 10, payload: new Uint8Array(65000) }));
    const small = frame(LINKTYPE_ETHERNET, ipPacket({ src: '10.0.0.2', dst: '10.0.0.1', proto: 'UDP', sport: 10, dport: 9 }));
    w.writePacket(0n, small);
    w.writePacket(0n, big);
    w.writePacket(0n, small);
    w.close();
    const want = [
      slot(pkt({ src: '10.0.0.2', dst: '10.0.0.1', proto: 17, sport: 10, dport: 9 }), meta(24, 0, 0, 42, 42, 0, 1, STATUS_OK)),
      slot(pkt({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 9, dport: 10 }), meta(82, 0, 0, 65042, 65042, 0, 1, STATUS_OK)),
      slot(pkt({ src: '10.0.0.2', dst: '10.0.0.1', proto: 17, sport: 10, dport: 9 }), meta(65140, 0, 0, 42, 42, 0, 1, STATUS_OK)),
    ];
    expect(readAll(path, { chunkBytes: 4096 }).slots).toEqual(want);
    expect(readAll(path, { chunkBytes: 16, batchSize: 1 }).slots).toEqual(want);
  });

  it('the demo traces: Ethernet pcap and SLL2 pcapng give the same records', () => {
    const traces = writeDemoTraces(tmp('demo'));
    const traffic = demoTraffic();
    const [a, b] = traces.map((t) => readAll(t.file));
    expect(a!.totals.ok).toBe(traffic.packets.length);
    expect(b!.totals.ok).toBe(traffic.packets.length);
    expect(a!.slots.map((s) => s.pkt)).toEqual(b!.slots.map((s) => s.pkt));
    // each connection's first packet is its flow, client to server
    for (const c of traffic.connections) {
      const first = a!.slots[c.packetIndexes[0]!]!;
      expect(first.pkt).toBe(pkt({ src: c.src, dst: c.dst, proto: c.proto === 'ICMP' ? (c.family === 4 ? 1 : 58) : PROTO_NUM[c.proto], sport: c.proto === 'ICMP' ? 0 : c.sport, dport: c.proto === 'ICMP' ? 0 : c.dport, flags: c.proto === 'TCP' ? SYN : 0 }));
    }
  });
});

// --- the parser in worker threads --------------------------------------------------------------

// plain CommonJS so the worker needs no TypeScript loader: it requires the addon directly
const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { CaptureParser } = require(w.addon);
const out = [];
for (let round = 0; round < w.rounds; round++) {
  const p = new CaptureParser();
  const pkts = new Uint8Array(64 * 40), meta = new Uint32Array(64 * ${META_WORDS});
  let pos = 0;
  for (;;) {
    const r = p.parse(w.bytes.subarray(pos), w.bytes.length - pos, pos, pkts, meta, 64, true);
    pos += r.consumed;
    out.push(Buffer.from(pkts.subarray(0, r.count * 40)).toString('hex'));
    if (r.count < 64 && pos === w.bytes.length) break;
  }
  p.close();
}
parentPort.postMessage(out);
`;

describe('worker threads', () => {
  it('each thread has its own parsers and gets the main thread\'s records', async () => {
    const bytes = parseHex(readFileSync(join(FIXTURES, 'pcapng-le.hex'), 'utf8'));
    const want = FIXTURE_WANT['pcapng-le.hex']!.map((s) => s.pkt).join('');
    const addon = join(packageRoot(), ADDON_PATH);
    const runs = await Promise.all([0, 1, 2].map(() => new Promise<string[]>((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: { addon, bytes, rounds: 20 } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    for (const out of runs) {
      expect(out.length).toBe(20);
      for (const r of out) expect(r).toBe(want);
    }
  });
});
