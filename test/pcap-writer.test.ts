/**
 * Capture writers: pcap and pcapng layouts checked byte by byte with parsers written here, then
 * read back by the real tcpdump (µs, ns, big-endian, pcapng with several interfaces), and the
 * demo traces: what tcpdump shows, per-connection metadata and TCP sequence consistency.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from './helpers/tmp.js';
import { demoTraffic, DEMO_HTTP_REQUEST, writeDemoTraces } from '../src/capture/demo-traces.js';
import { frame, ipPacket, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, type IpPacketOptions } from '../src/capture/frames.js';
import { PcapngWriter, PcapWriter } from '../src/capture/pcap-writer.js';
import { DEMO_CLIENTS } from '../src/demo/cluster.js';
import { PfsimError } from '../src/errors.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const TS = 1_700_000_000_123_456_789n; // 2023-11-14 22:13:20.123456789 UTC

const tmp = scratchDir('pfsim-pcap-');

interface PcapFile {
  le: boolean;
  magic: number;
  version: [number, number];
  snaplen: number;
  linkType: number;
  records: { sec: number; frac: number; caplen: number; len: number; data: Uint8Array }[];
}

/** Reads a classic pcap file, either byte order. */
function readPcap(file: string): PcapFile {
  const b = readFileSync(file);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const raw = v.getUint32(0, false);
  const le = raw === 0xd4c3b2a1 || raw === 0x4d3cb2a1;
  const out: PcapFile = {
    le, magic: v.getUint32(0, le), version: [v.getUint16(4, le), v.getUint16(6, le)],
    snaplen: v.getUint32(16, le), linkType: v.getUint32(20, le), records: [],
  };
  expect(v.getUint32(8, le)).toBe(0);
  expect(v.getUint32(12, le)).toBe(0);
  for (let o = 24; o < b.length; ) {
    const caplen = v.getUint32(o + 8, le);
    out.records.push({ sec: v.getUint32(o, le), frac: v.getUint32(o + 4, le), caplen, len: v.getUint32(o + 12, le), data: b.subarray(o + 16, o + 16 + caplen) });
    o += 16 + caplen;
  }
  return out;
}

interface Block {
  type: number;
  body: Uint8Array;
  view: DataView;
  le: boolean;
}

/** Splits a pcapng file into blocks, checking that each block's two length fields agree. */
function readPcapng(file: string): Block[] {
  const b = readFileSync(file);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  expect(v.getUint32(0, false)).toBe(0x0a0d0d0a);
  const le = v.getUint32(8, true) === 0x1a2b3c4d;
  if (!le) expect(v.getUint32(8, false)).toBe(0x1a2b3c4d);
  const blocks: Block[] = [];
  for (let o = 0; o < b.length; ) {
    const total = v.getUint32(o + 4, le);
    expect(total % 4).toBe(0);
    expect(v.getUint32(o + total - 4, le)).toBe(total);
    const body = b.subarray(o + 8, o + total - 4);
    blocks.push({ type: v.getUint32(o, le), body, view: new DataView(body.buffer, body.byteOffset, body.length), le });
    o += total;
  }
  return blocks;
}

/** Options of a block from `at` in its body: code → value. */
function readOptions(blk: Block, at: number): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (let o = at; o < blk.body.length; ) {
    const code = blk.view.getUint16(o, blk.le), len = blk.view.getUint16(o + 2, blk.le);
    if (code === 0) {
      expect(len).toBe(0);
      expect(o + 4).toBe(blk.body.length);
      break;
    }
    m.set(code, blk.body.subarray(o + 4, o + 4 + len));
    expect(blk.body.subarray(o + 4 + len, o + 4 + ((len + 3) & ~3)).every((x) => x === 0)).toBe(true);
    o += 4 + ((len + 3) & ~3);
  }
  return m;
}

function errorOf(f: () => unknown): PfsimError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PfsimError);
    return e as PfsimError;
  }
  throw new Error('expected a PfsimError');
}

const SYN: IpPacketOptions = { src: '10.244.0.11', dst: '10.244.0.10', proto: 'TCP', sport: 40000, dport: 80, seq: 1000 };
const UDP6: IpPacketOptions = { src: 'fd00:10:244::b', dst: 'fd00:10:96::a', proto: 'UDP', sport: 53000, dport: 40404, payload: 'hello' };
const PING: IpPacketOptions = { src: '10.244.0.11', dst: '10.244.0.10', proto: 'ICMP', icmp: { type: 'request', id: 42, seq: 1 }, payload: 'abcdefgh' };
const MACS = { srcMac: '0a:58:0a:f4:00:0b', dstMac: '0a:58:0a:f4:00:0a' };
const ethSamples = (): Uint8Array[] => [SYN, UDP6, PING].map((o) => frame(LINKTYPE_ETHERNET, ipPacket(o), MACS));

describe('PcapWriter layout', () => {
  it('µs, little-endian by default: global header and record header byte for byte', () => {
    const f = tmp('us.pcap');
    const w = new PcapWriter(f, { linkType: LINKTYPE_ETHERNET });
    w.writePacket(TS, Uint8Array.of(1, 2, 3));
    w.close();
    expect(toHex(readFileSync(f))).toBe(
      'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + '01000000' +
      // 1700000000 s = 0x6553f100, 123456 µs = 0x0001e240, caplen 3, len 3
      '00f15365' + '40e20100' + '03000000' + '03000000' + '010203');
  });

  it('ns: magic a1b23c4d and the nanoseconds kept', () => {
    const f = tmp('ns.pcap');
    const w = new PcapWriter(f, { linkType: LINKTYPE_RAW, resolution: 'ns' });
    w.writePacket({ sec: 1_700_000_000, nsec: 123_456_789 }, Uint8Array.of(9));
    w.close();
    const p = readPcap(f);
    expect(p.magic).toBe(0xa1b23c4d);
    expect(p.linkType).toBe(101);
    expect(p.records[0]).toMatchObject({ sec: 1_700_000_000, frac: 123_456_789, caplen: 1, len: 1 });
  });

  it('big-endian: every field in network order', () => {
    const f = tmp('be.pcap');
    const w = new PcapWriter(f, { linkType: LINKTYPE_LINUX_SLL2, byteOrder: 'be', snaplen: 65535 });
    w.writePacket(TS, Uint8Array.of(7, 7));
    w.close();
    expect(toHex(readFileSync(f))).toBe(
      'a1b2c3d4' + '0002' + '0004' + '00000000' + '00000000' + '0000ffff' + '00000114' +
      '6553f100' + '0001e240' + '00000002' + '00000002' + '0707');
  });

  it('bigint and {sec, nsec} timestamps write the same bytes', () => {
    const a = tmp('ts-a.pcap'), b = tmp('ts-b.pcap');
    for (const [file, ts] of [[a, TS], [b, { sec: 1_700_000_000, nsec: 123_456_789 }]] as const) {
      const w = new PcapWriter(file, { linkType: 1, resolution: 'ns' });
      w.writePacket(ts, Uint8Array.of(1));
      w.close();
    }
    expect(toHex(readFileSync(a))).toBe(toHex(readFileSync(b)));
  });

  it('snaplen cuts captured bytes and keeps the original length; origLen marks a truncated capture', () => {
    const f = tmp('snap.pcap');
    const w = new PcapWriter(f, { linkType: 1, snaplen: 64 });
    w.writePacket(TS, new Uint8Array(100).fill(0xab));
    w.writePacket(TS, new Uint8Array(60).fill(0xcd), 1514);
    w.close();
    const p = readPcap(f);
    expect(p.snaplen).toBe(64);
    expect(p.records.map((r) => [r.caplen, r.len])).toEqual([[64, 100], [60, 1514]]);
    expect(p.records[0]!.data.every((x) => x === 0xab)).toBe(true);
  });

  it('streams through its buffer: past 1 MiB the file grows before close, and every record survives', () => {
    const f = tmp('big.pcap');
    const w = new PcapWriter(f, { linkType: 1 });
    const n = 3000;
    for (let i = 0; i < n; i++) w.writePacket(TS + BigInt(i) * 1000n, new Uint8Array(1000).fill(i & 0xff));
    expect(statSync(f).size).toBeGreaterThan(0);
    w.close();
    expect(statSync(f).size).toBe(24 + n * 1016);
    const p = readPcap(f);
    expect(p.records).toHaveLength(n);
    p.records.forEach((r, i) => {
      expect(r.data[0]).toBe(i & 0xff);
      expect(r.data[999]).toBe(i & 0xff);
    });
    expect(w.packets).toBe(n);
  });

  it('refuses what it cannot write, with PFSIM_ERR_USAGE naming the path or field', () => {
    const w = new PcapWriter(tmp('err.pcap'), { linkType: 1 });
    expect(errorOf(() => w.writePacket(TS, new Uint8Array(10), 9)).message).toMatch(/origLen/);
    expect(errorOf(() => w.writePacket(-1n, new Uint8Array(1))).code).toBe('PFSIM_ERR_USAGE');
    expect(errorOf(() => w.writePacket({ sec: 1, nsec: 1e9 }, new Uint8Array(1))).message).toMatch(/nsec/);
    w.close();
    w.close(); // idempotent
    expect(errorOf(() => w.writePacket(TS, new Uint8Array(1))).message).toMatch(/write after close/);
    const missing = join(tmp('no-such-dir'), 'x.pcap');
    const e = errorOf(() => new PcapWriter(missing, { linkType: 1 }));
    expect(e.code).toBe('PFSIM_ERR_USAGE');
    expect(e.message).toBe(`${missing}: cannot open for writing: ENOENT`);
  });
});

describe('PcapngWriter layout', () => {
  for (const byteOrder of ['le', 'be'] as const) {
    it(`${byteOrder}: SHB, two IDBs, EPBs in each interface's resolution, SPB, a raw block`, () => {
      const f = tmp(`layout-${byteOrder}.pcapng`);
      const w = new PcapngWriter(f, { byteOrder, interfaces: [{ linkType: LINKTYPE_ETHERNET, name: 'eth0' }, { linkType: LINKTYPE_ETHERNET, resolution: 'ns', snaplen: 128 }] });
      w.writeBlock(0x80000bad, Uint8Array.of(1, 2, 3, 4, 5));
      w.writePacket(0, TS, Uint8Array.of(1, 2, 3, 4, 5));
      w.writePacket(1, TS, new Uint8Array(200).fill(0xee));
      w.writeSimplePacket(Uint8Array.of(9, 9, 9));
      w.close();
      const le = byteOrder === 'le';
      const blocks = readPcapng(f);
      expect(blocks.map((b) => b.type)).toEqual([0x0a0d0d0a, 1, 1, 0x80000bad, 6, 6, 3]);
      expect(blocks.every((b) => b.le === le)).toBe(true);

      const [shb, idb0, idb1, raw, epb0, epb1, spb] = blocks as [Block, Block, Block, Block, Block, Block, Block];
      expect(shb.view.getUint16(4, le)).toBe(1);
      expect(shb.view.getUint16(6, le)).toBe(0);
      expect(toHex(shb.body.subarray(8, 16))).toBe('ffffffffffffffff');
      expect(new TextDecoder().decode(readOptions(shb, 16).get(4))).toBe('pfsim');

      expect(idb0.view.getUint16(0, le)).toBe(1);
      expect(idb0.view.getUint16(2, le)).toBe(0);
      expect(idb0.view.getUint32(4, le)).toBe(262144);
      const o0 = readOptions(idb0, 8);
      expect(new TextDecoder().decode(o0.get(2))).toBe('eth0');
      expect([...o0.get(9)!]).toEqual([6]);
      expect(idb1.view.getUint32(4, le)).toBe(128);
      expect([...readOptions(idb1, 8).get(9)!]).toEqual([9]);

      expect([...raw.body]).toEqual([1, 2, 3, 4, 5, 0, 0, 0]);

      const epb = (b: Block): { id: number; ts: bigint; cap: number; len: number; data: Uint8Array; pad: Uint8Array } => {
        const cap = b.view.getUint32(12, le);
        return {
          id: b.view.getUint32(0, le),
          ts: (BigInt(b.view.getUint32(4, le)) << 32n) | BigInt(b.view.getUint32(8, le)),
          cap, len: b.view.getUint32(16, le),
          data: b.body.subarray(20, 20 + cap),
          pad: b.body.subarray(20 + cap, 20 + ((cap + 3) & ~3)),
        };
      };
      const e0 = epb(epb0), e1 = epb(epb1);
      expect([e0.id, e0.ts, e0.cap, e0.len]).toEqual([0, TS / 1000n, 5, 5]);
      expect(toHex(e0.data)).toBe('0102030405');
      expect(toHex(e0.pad)).toBe('000000');
      expect(epb0.body.length).toBe(20 + 8);
      expect([e1.id, e1.ts, e1.cap, e1.len]).toEqual([1, TS, 128, 200]);

      expect(spb.view.getUint32(0, le)).toBe(3);
      expect([...spb.body.subarray(4)]).toEqual([9, 9, 9, 0]);
    });
  }

  it('refuses packets for interfaces it has not described, and SPBs whose length it cannot imply', () => {
    const w = new PcapngWriter(tmp('err.pcapng'));
    expect(errorOf(() => w.writeSimplePacket(Uint8Array.of(1))).message).toMatch(/interface: 0 is not described/);
    w.addInterface({ linkType: 1, snaplen: 4 });
    expect(errorOf(() => w.writePacket(1, TS, Uint8Array.of(1))).code).toBe('PFSIM_ERR_USAGE');
    expect(errorOf(() => w.writeSimplePacket(Uint8Array.of(1, 2), 10)).message).toMatch(/implies 4 captured bytes/);
    w.writeSimplePacket(Uint8Array.of(1, 2, 3, 4, 5, 6), 10); // cut to snaplen 4: fine
    w.close();
    expect(readPcapng(tmp('err.pcapng')).map((b) => b.type)).toEqual([0x0a0d0d0a, 1, 3]);
  });
});

// ---- the real tcpdump reads the files back ----

function findTcpdump(): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin']) {
    if (d === '') continue;
    try {
      accessSync(join(d, 'tcpdump'), fsConstants.X_OK);
      return join(d, 'tcpdump');
    } catch {
      // not here
    }
  }
  return undefined;
}

const TCPDUMP = findTcpdump();
// CI installs tcpdump (scripts/setup.sh): there a missing one fails the tests instead of skipping them
const tcpdumpSkip = TCPDUMP === undefined && !process.env.CI ? 'tcpdump not found on PATH' : undefined;

interface TcpdumpResult {
  /** one string per packet: a -v record may span lines */
  packets: string[];
  stdout: string;
  stderr: string;
  code: number;
}

function tcpdumpRead(file: string, args: readonly string[] = []): TcpdumpResult {
  if (TCPDUMP === undefined) throw new Error('tcpdump not found on PATH; scripts/setup.sh installs it');
  const r = spawnSync(TCPDUMP, ['-r', file, '-nn', '-tt', ...args], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const packets = r.stdout.split(/\n(?=\d+\.\d+ )/).map((s) => s.trim()).filter((s) => s !== '');
  return { packets, stdout: r.stdout, stderr: r.stderr, code: r.status ?? -1 };
}

const NOT_CLEAN = /bad|truncated|invalid|\[\|/i;

/** The three sample packets as tcpdump -v -e must show them, after the timestamp. */
function expectSamples(r: TcpdumpResult, stamps: readonly string[]): void {
  expect(r.code, r.stderr).toBe(0);
  expect(r.packets).toHaveLength(3);
  const [syn, udp, ping] = r.packets as [string, string, string];
  expect(syn).toMatch(new RegExp(`^${stamps[0]} 0a:58:0a:f4:00:0b > 0a:58:0a:f4:00:0a, ethertype IPv4 \\(0x0800\\), length 54: \\(tos 0x0, ttl 64, id 0, offset 0, flags \\[DF\\], proto TCP \\(6\\), length 40\\)`));
  expect(syn).toMatch(/10\.244\.0\.11\.40000 > 10\.244\.0\.10\.80: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\), seq 1000, win 64240, length 0$/);
  expect(udp).toMatch(new RegExp(`^${stamps[1]} 0a:58:0a:f4:00:0b > 0a:58:0a:f4:00:0a, ethertype IPv6 \\(0x86dd\\), length 67: \\(hlim 64, next-header UDP \\(17\\) payload length: 13\\) fd00:10:244::b\\.53000 > fd00:10:96::a\\.40404: \\[udp sum ok\\] UDP, length 5$`));
  expect(ping).toMatch(new RegExp(`^${stamps[2]} .*proto ICMP \\(1\\), length 36\\)\\s+10\\.244\\.0\\.11 > 10\\.244\\.0\\.10: ICMP echo request, id 42, seq 1, length 16$`));
  for (const p of r.packets) expect(p).not.toMatch(NOT_CLEAN);
}

describe.skipIf(tcpdumpSkip !== undefined)(`tcpdump reads the files back${tcpdumpSkip ? ` [skipped: ${tcpdumpSkip}]` : ''}`, () => {
  const stamps = [TS, TS + 250_001n, TS + 1_000_999n];

  function writePcap(name: string, opts: ConstructorParameters<typeof PcapWriter>[1]): string {
    const f = tmp(name);
    const w = new PcapWriter(f, opts);
    ethSamples().forEach((fr, i) => w.writePacket(stamps[i]!, fr));
    w.close();
    return f;
  }

  it('pcap, µs: timestamps, MACs, addresses, ports, flags, lengths and checksums', () => {
    const r = tcpdumpRead(writePcap('rt-us.pcap', { linkType: LINKTYPE_ETHERNET }), ['-v', '-e']);
    expect(r.stderr).toMatch(/link-type EN10MB \(Ethernet\), snapshot length 262144/);
    expectSamples(r, ['1700000000\\.123456', '1700000000\\.123706', '1700000000\\.124457']);
  });

  it('pcap, ns: nanosecond timestamps with --time-stamp-precision=nano, µs without', () => {
    const f = writePcap('rt-ns.pcap', { linkType: LINKTYPE_ETHERNET, resolution: 'ns' });
    expectSamples(tcpdumpRead(f, ['-v', '-e', '--time-stamp-precision=nano']), ['1700000000\\.123456789', '1700000000\\.123706790', '1700000000\\.124457788']);
    expectSamples(tcpdumpRead(f, ['-v', '-e']), ['1700000000\\.123456', '1700000000\\.123706', '1700000000\\.124457']);
  });

  it('pcap, big-endian: tcpdump shows exactly what it shows for little-endian', () => {
    const be = tcpdumpRead(writePcap('rt-be.pcap', { linkType: LINKTYPE_ETHERNET, byteOrder: 'be' }), ['-v', '-e']);
    const le = tcpdumpRead(writePcap('rt-le.pcap', { linkType: LINKTYPE_ETHERNET }), ['-v', '-e']);
    expectSamples(be, ['1700000000\\.123456', '1700000000\\.123706', '1700000000\\.124457']);
    expect(be.stdout).toBe(le.stdout);
  });

  it('pcap, truncated record: tcpdump reports the original length and marks the cut', () => {
    const f = tmp('rt-trunc.pcap');
    const w = new PcapWriter(f, { linkType: LINKTYPE_ETHERNET });
    const full = frame(LINKTYPE_ETHERNET, ipPacket({ ...SYN, tcpFlags: ['PSH', 'ACK'], ack: 1, payload: 'x'.repeat(1000) }), MACS);
    w.writePacket(TS, full.subarray(0, 40), full.length);
    w.close();
    const r = tcpdumpRead(f, ['-v', '-e']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.packets).toHaveLength(1);
    expect(r.packets[0]).toMatch(/length 1054: \(.*proto TCP \(6\), length 1040\)\s+10\.244\.0\.11\.40000 > 10\.244\.0\.10\.80:\s+\[\|tcp\]$/);
  });

  it('pcapng with two interfaces of different link types: libpcap refuses it', () => {
    const f = tmp('rt-mixed.pcapng');
    const ip = ipPacket(SYN);
    const w = new PcapngWriter(f, { interfaces: [{ linkType: LINKTYPE_ETHERNET }, { linkType: LINKTYPE_LINUX_SLL2, resolution: 'ns' }] });
    w.writePacket(0, TS, frame(LINKTYPE_ETHERNET, ip, MACS));
    w.writePacket(1, TS, frame(LINKTYPE_LINUX_SLL2, ip));
    w.close();
    const r = tcpdumpRead(f, ['-v']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/an interface has a type 276 different from the type of the first interface/);
  });

  it('pcapng, one link type per file: Ethernet in µs, SLL2 in ns', () => {
    const eth = tmp('rt-eth.pcapng');
    const w = new PcapngWriter(eth, { interfaces: [{ linkType: LINKTYPE_ETHERNET, name: 'eth0' }] });
    ethSamples().forEach((fr, i) => w.writePacket(0, stamps[i]!, fr));
    w.close();
    const r = tcpdumpRead(eth, ['-v', '-e']);
    expect(r.stderr).toMatch(/link-type EN10MB \(Ethernet\)/);
    expectSamples(r, ['1700000000\\.123456', '1700000000\\.123706', '1700000000\\.124457']);

    const sll = tmp('rt-sll2.pcapng');
    const s = new PcapngWriter(sll, { interfaces: [{ linkType: LINKTYPE_LINUX_SLL2, name: 'any', resolution: 'ns' }] });
    s.writePacket(0, stamps[0]!, frame(LINKTYPE_LINUX_SLL2, ipPacket(SYN), { srcMac: MACS.srcMac, packetType: 'host', ifindex: 9 }));
    s.writePacket(0, stamps[1]!, frame(LINKTYPE_LINUX_SLL2, ipPacket(UDP6), { srcMac: MACS.dstMac, packetType: 'outgoing', ifindex: 9 }));
    s.close();
    const q = tcpdumpRead(sll, ['-v', '-e', '--time-stamp-precision=nano']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stderr).toMatch(/link-type LINUX_SLL2 \(Linux cooked v2\)/);
    expect(q.packets).toHaveLength(2);
    expect(q.packets[0]).toMatch(/^1700000000\.123456789 \S+\s+In\s+ifindex 9 0a:58:0a:f4:00:0b ethertype IPv4 \(0x0800\), length 60: .*10\.244\.0\.11\.40000 > 10\.244\.0\.10\.80: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/s);
    expect(q.packets[1]).toMatch(/^1700000000\.123706790 \S+\s+Out\s+ifindex 9 0a:58:0a:f4:00:0a ethertype IPv6 \(0x86dd\), length 73: .*\[udp sum ok\]/s);
    for (const p of q.packets) expect(p).not.toMatch(NOT_CLEAN);
  });

  for (const byteOrder of ['le', 'be'] as const) {
    it(`pcapng (${byteOrder}), two Ethernet interfaces in µs and ns, a block to skip, a simple packet`, () => {
      const f = tmp(`rt-two-${byteOrder}.pcapng`);
      const w = new PcapngWriter(f, { byteOrder, interfaces: [{ linkType: LINKTYPE_ETHERNET, name: 'eth0' }, { linkType: LINKTYPE_ETHERNET, name: 'eth1', resolution: 'ns' }] });
      const [syn, udp, ping] = ethSamples() as [Uint8Array, Uint8Array, Uint8Array];
      w.writeBlock(0x80000bad, new TextEncoder().encode('skip me'));
      w.writePacket(0, stamps[0]!, syn);
      w.writePacket(1, stamps[1]!, udp);
      w.writeSimplePacket(ping);
      w.close();
      const r = tcpdumpRead(f, ['-v', '-e', '--time-stamp-precision=nano']);
      // the simple packet block has no timestamp: libpcap shows the epoch
      expectSamples(r, ['1700000000\\.123456000', '1700000000\\.123706790', '0\\.000000000']);
    });
  }
});

describe('demo traces', () => {
  it('are deterministic, and their metadata names each connection\'s packets', () => {
    const a = demoTraffic(), b = demoTraffic();
    expect(a.packets.map((p) => toHex(p.ip)).join()).toBe(b.packets.map((p) => toHex(p.ip)).join());
    const { packets, connections } = a;
    // per client and family: DNS (2), HTTP (10), ping (2)
    expect(connections).toHaveLength(DEMO_CLIENTS.length * 6);
    expect(packets).toHaveLength(DEMO_CLIENTS.length * 2 * 14);
    expect(connections.reduce((n, c) => n + c.packets, 0)).toBe(packets.length);
    for (let i = 1; i < packets.length; i++) expect(packets[i]!.ts).toBeGreaterThan(packets[i - 1]!.ts);
    connections.forEach((c, ci) => {
      expect(c.packetIndexes).toHaveLength(c.packets);
      for (const [k, idx] of c.packetIndexes.entries()) {
        const p = packets[idx]!;
        expect(p.connection).toBe(ci);
        expect(p.fromClient).toBe(k === 0 || (c.kind === 'http' && [2, 3, 6, 7, 9].includes(k)));
      }
    });
    // connections from different clients interleave
    const firstClient = connections.filter((c) => c.client === DEMO_CLIENTS[0]!.name);
    const last = Math.max(...firstClient.flatMap((c) => c.packetIndexes));
    expect(connections.some((c) => c.client !== DEMO_CLIENTS[0]!.name && c.packetIndexes[0]! < last)).toBe(true);
  });

  it('TCP sequence and acknowledgement numbers follow each byte, SYN and FIN', () => {
    const { packets, connections } = demoTraffic();
    for (const c of connections.filter((x) => x.kind === 'http')) {
      const next: Record<'c' | 's', number | undefined> = { c: undefined, s: undefined };
      for (const idx of c.packetIndexes) {
        const p = packets[idx]!;
        const d = p.ip;
        const off = d[0]! >>> 4 === 4 ? (d[0]! & 15) * 4 : 40;
        const seg = new DataView(d.buffer, d.byteOffset + off);
        const seq = seg.getUint32(4), ack = seg.getUint32(8), flags = d[off + 13]!;
        const dataLen = d.length - off - (d[off + 12]! >>> 4) * 4;
        const [me, peer] = p.fromClient ? (['c', 's'] as const) : (['s', 'c'] as const);
        if (next[me] !== undefined) expect(seq).toBe(next[me]);
        if (flags & 0x10) expect(ack).toBe(next[peer]);
        next[me] = (seq + dataLen + (flags & 0x03 ? 1 : 0)) >>> 0;
      }
    }
  });

  it.skipIf(tcpdumpSkip !== undefined)(`tcpdump reads both files: every packet clean, the curl exchange visible${tcpdumpSkip ? ` [skipped: ${tcpdumpSkip}]` : ''}`, () => {
    const traces = writeDemoTraces(tmp('traces'));
    expect(traces.map((t) => t.file)).toEqual([join(tmp('traces'), 'demo-curl.pcap'), join(tmp('traces'), 'demo-curl-any.pcapng')]);
    const [pcap, ng] = traces as [(typeof traces)[0], (typeof traces)[0]];
    const rp = tcpdumpRead(pcap.file, ['-vv', '-e']);
    const rn = tcpdumpRead(ng.file, ['-vv', '-e', '--time-stamp-precision=nano']);
    for (const [t, r] of [[pcap, rp], [ng, rn]] as const) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.packets).toHaveLength(t.packets);
      for (const p of r.packets) {
        expect(p).not.toMatch(NOT_CLEAN);
        if (/ Flags \[/.test(p)) expect(p).toMatch(/cksum 0x[0-9a-f]{4} \(correct\)/);
        else if (/\.53: |\.53 > /.test(p)) expect(p).toMatch(/\[udp sum ok\]/);
        else if (/ICMP6/.test(p)) expect(p).toMatch(/\[icmp6 sum ok\]/);
        else expect(p).toMatch(/ICMP echo (request|reply)/);
      }
    }
    expect(rp.stderr).toMatch(/link-type EN10MB/);
    expect(rn.stderr).toMatch(/link-type LINUX_SLL2/);
    const sent = demoTraffic().packets.map((p) => p.fromClient);
    expect(rn.packets.map((p) => / In\s+ifindex \d+ /.test(p))).toEqual(sent);
    expect(rn.packets.map((p) => / Out\s+ifindex \d+ /.test(p))).toEqual(sent.map((s) => !s));
    // same packets, same order, microseconds in one and nanoseconds in the other
    rp.packets.forEach((p, i) => expect(rn.packets[i]!.startsWith(p.slice(0, 17))).toBe(true));

    const conn = pcap.connections.find((c) => c.kind === 'http' && c.family === 6)!;
    const shown = conn.packetIndexes.map((i) => rp.packets[i]!);
    const tuple = `${conn.src}.${conn.sport} > ${conn.dst}.${conn.dport}`;
    expect(shown[0]).toMatch(new RegExp(`${tuple.replace(/\./g, '\\.')}: Flags \\[S\\], cksum 0x[0-9a-f]{4} \\(correct\\), seq \\d+, win 64800, options \\[mss 1440,sackOK,TS val \\d+ ecr 0,nop,wscale 7\\]`));
    expect(shown.map((p) => /Flags \[([^\]]+)\]/.exec(p)![1])).toEqual(['S', 'S.', '.', 'P.', '.', 'P.', '.', 'F.', 'F.', '.']);
    expect(shown[3]).toContain(`length ${DEMO_HTTP_REQUEST.length}: HTTP, length: ${DEMO_HTTP_REQUEST.length}`);
    expect(shown[3]).toContain('GET / HTTP/1.1');
    expect(shown[5]).toContain('HTTP/1.1 200 OK');
    expect(shown[5]).toContain('Server: nginx/1.27.5');
  });
});
