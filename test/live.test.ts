/**
 * Live traffic: `pfsim capture` and `pfsim watch` on a veth pair inside a network namespace
 * this file creates, with traffic sent there (kernel UDP sockets, plus raw frames injected
 * through libpcap for the packets pfsim must skip). Captures are checked with pfsim's reader
 * and tcpdump; watch is checked against `pfsim verdict --pcap` on a capture of the same frames.
 *
 * The namespace is quiet by construction, so every frame on the wire is one a test sent: IPv6
 * is off (no router solicitations, no MLD), the sender reaches 10.99.0.2 through a permanent
 * neighbour entry (no ARP), and 10.99.0.2 is nobody's address, so the receiving side, which does
 * not forward, drops the datagrams without an ICMP reply.
 *
 * The frame parser (src/live/parse.ts) is also checked without root, differentially: live
 * batches against the file reader on a pcap of the same frames.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from './helpers/tmp.js';
import { frame, fragmentPacket, ipPacket, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, type LinkType } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { openCapture, readMeta } from '../src/capture/reader.js';
import { PKT_BYTES, readPacket } from '../src/engines/packet.js';
import { PfsimError } from '../src/errors.js';
import { LiveFrameParser } from '../src/live/parse.js';
import { capLinkType, loadCap } from '../src/live/source.js';
import { parseCount, parseDuration, StopController } from '../src/live/stop.js';
import { formatIp } from '../src/net/ip.js';
import { CLI, ROOT } from './helpers/cli.js';
import { createNetns, gatedTitle, kernelTestGate, type KernelGate, type NetnsHandle } from './helpers/netns.js';

const tmp = scratchDir('pfsim-live-');

// --- without root -----------------------------------------------------------------------------

describe('live: options and loading', () => {
  it('--count and --duration take positive numbers only, naming the option', () => {
    expect(parseCount('capture', '12')).toBe(12);
    expect(parseDuration('watch', '0.25')).toBe(0.25);
    expect(parseCount('capture', undefined)).toBeUndefined();
    for (const bad of ['0', '-3', '1.5', 'ten', '', '1e3', '9007199254740993']) {
      expect(() => parseCount('capture', bad)).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_USAGE', message: `capture: --count ${bad}: not a positive integer` }));
    }
    for (const bad of ['0', '-1', 'abc', '1e2', '', '40000000']) {
      expect(() => parseDuration('watch', bad)).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_USAGE' }));
    }
  });

  it('a cap module that cannot be loaded is one line with PFSIM_ERR_NATIVE, not a stack trace', () => {
    let err: unknown;
    try {
      loadCap('pfsim-test-no-such-cap-module');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PfsimError);
    expect((err as PfsimError).code).toBe('PFSIM_ERR_NATIVE');
    expect((err as PfsimError).message).toMatch(/^live capture needs the npm package pfsim-test-no-such-cap-module .* cannot be loaded: Cannot find module/);
    expect((err as PfsimError).message).not.toContain('\n');
  });

  it("cap's link type names map to the LINKTYPE values pcap files carry", () => {
    expect(capLinkType('ETHERNET')).toBe(1);
    expect(capLinkType('LINKTYPE_LINUX_SLL')).toBe(113);
    expect(capLinkType('RAW')).toBe(101);
    expect(capLinkType('NULL')).toBe(0);
    expect(capLinkType('Unknown linktype 276')).toBe(276);
    expect(capLinkType('Unknown linktype 12')).toBe(101);
    expect(capLinkType('something else')).toBeUndefined();
  });

  it('a stop controller stops once: at the count, and frames after it are refused', () => {
    const s = new StopController({ count: 2 });
    expect(s.frame()).toBe(true);
    expect(s.stopped).toBe(false);
    expect(s.frame()).toBe(true);
    expect(s.reason).toEqual({ kind: 'count', count: 2 });
    expect(s.frame()).toBe(false);
    s.stop({ kind: 'signal', signal: 'SIGINT' });
    expect(s.reason).toEqual({ kind: 'count', count: 2 });
  });
});

/** Frames exercising the decoder's paths, fragments split so that a later one lands in a later batch. */
function sampleFrames(lt: LinkType): Uint8Array[] {
  const eth = (ip: Uint8Array, vlan?: number) => frame(lt, ip, lt === LINKTYPE_ETHERNET && vlan !== undefined ? { vlan } : {});
  const frags = fragmentPacket({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'UDP', sport: 5353, dport: 53, id: 77, payload: 'x'.repeat(60) }, 24);
  const syn = eth(ipPacket({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'TCP', sport: 40000, dport: 80, tcpFlags: ['SYN'] }));
  const notIp = new Uint8Array(lt === LINKTYPE_ETHERNET ? 60 : 40);
  if (lt === LINKTYPE_ETHERNET) notIp.set([0x08, 0x06], 12); // ARP ethertype
  else notIp.set([0x08, 0x06], 0); // SLL2 protocol field
  return [
    syn,
    eth(ipPacket({ src: 'fd00::1', dst: 'fd00::2', proto: 'TCP', sport: 40001, dport: 443, tcpFlags: ['SYN'], ext: ['hop', 'dst'] })),
    eth(ipPacket({ src: '10.1.0.3', dst: '10.1.0.2', proto: 'ICMP', icmp: { type: 'request', id: 1, seq: 1 } }), 42),
    notIp,
    syn.subarray(0, syn.length - 25), // cut inside the TCP header
    ...frags.map((f) => eth(f)),
    eth(ipPacket({ src: '10.1.0.4', dst: '10.1.0.2', proto: 'SCTP', sport: 9, dport: 9, sctp: { type: 'INIT', initiateTag: 1, initialTsn: 1 } })),
  ];
}

describe('live: frames parse as the file reader parses them', () => {
  for (const [name, lt] of [['Ethernet', LINKTYPE_ETHERNET], ['SLL2', LINKTYPE_LINUX_SLL2]] as const) {
    it(`${name}: same pf_pkt records, statuses and timestamps in batches of 3 as from a pcap file`, () => {
      const frames = sampleFrames(lt);
      const t0 = 1_700_000_000_000_000_123n;
      const ts = frames.map((_, i) => t0 + BigInt(i) * 1_000_001n);
      const live = new LiveFrameParser(lt, 3);
      const got: { pkt: string; meta: ReturnType<typeof readMeta> }[] = [];
      const drain = () => {
        const b = live.parse();
        for (let i = 0; i < b.count; i++) got.push({ pkt: Buffer.from(b.pkts.subarray(i * PKT_BYTES, (i + 1) * PKT_BYTES)).toString('hex'), meta: readMeta(b.meta, i) });
      };
      frames.forEach((f, i) => {
        if (!live.fits(f.length)) drain();
        live.push(f, ts[i]!);
      });
      drain();
      live.close();

      const file = tmp(`parse-${name}.pcap`);
      const w = new PcapWriter(file, { linkType: lt, resolution: 'ns' });
      frames.forEach((f, i) => w.writePacket(ts[i]!, f));
      w.close();
      const want: typeof got = [];
      for (const b of openCapture(file)) {
        for (let i = 0; i < b.count; i++) want.push({ pkt: Buffer.from(b.pkts.subarray(i * PKT_BYTES, (i + 1) * PKT_BYTES)).toString('hex'), meta: readMeta(b.meta, i) });
      }
      expect(got).toHaveLength(frames.length);
      // record offsets differ: the live stream has no file; everything else must match
      const strip = (x: (typeof got)[number]) => ({ pkt: x.pkt, ...x.meta, offset: 0 });
      expect(got.map(strip)).toEqual(want.map(strip));
      const statuses = got.map((g) => g.meta.status);
      expect(statuses.filter((s) => s === 0).length).toBeGreaterThanOrEqual(frames.length - 2);
      expect(statuses).toContain(1); // not-ip
      expect(statuses).toContain(2); // truncated
      // the later fragments (batch 3) took their ports from the first one (batch 2)
      const fragPkts = got.slice(5, 8).map((g) => readPacket(Buffer.from(g.pkt, 'hex'), 0));
      expect(fragPkts.map((p) => [p.sport, p.dport])).toEqual([[5353, 53], [5353, 53], [5353, 53]]);
      expect(BigInt(got[0]!.meta.sec) * 1_000_000_000n + BigInt(got[0]!.meta.nsec)).toBe(t0);
    });
  }
});

// --- on a veth pair inside a namespace this file creates --------------------------------------

function liveGate(): KernelGate {
  const k = kernelTestGate();
  if (!k.ok) return k;
  try {
    loadCap();
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  return { ok: true };
}
const gate = liveGate();
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
const tcpdumpGate: KernelGate = !gate.ok ? gate : hasTcpdump ? gate : { ok: false, reason: 'tcpdump not installed' };

const SEND_IF = 'pfl-a';
const CAP_IF = 'pfl-b';
const CLIENT = '10.99.0.1';
const WEB = '10.99.0.2';

let ns: NetnsHandle | undefined;
let sendMac = '';
let capMac = '';
const running = new Set<ChildProcess>();

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await ns!.exec(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

async function setUpNamespace(): Promise<void> {
  ns = await createNetns();
  await must('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await must('ip', ['link', 'add', SEND_IF, 'type', 'veth', 'peer', 'name', CAP_IF]);
  await must('ip', ['addr', 'add', `${CLIENT}/24`, 'dev', SEND_IF]);
  // an IPv4 address keeps libpcap's "no IPv4 address assigned" warning away; not 10.99.0.2
  await must('ip', ['addr', 'add', '10.99.1.2/32', 'dev', CAP_IF]);
  await must('ip', ['link', 'set', SEND_IF, 'up']);
  await must('ip', ['link', 'set', CAP_IF, 'up']);
  const mac = async (i: string) => JSON.parse(await must('ip', ['-j', 'link', 'show', i]))[0].address as string;
  sendMac = await mac(SEND_IF);
  capMac = await mac(CAP_IF);
  await must('ip', ['neigh', 'add', WEB, 'lladdr', capMac, 'dev', SEND_IF, 'nud', 'permanent']);
}

const SENDER = `
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
const [root, json] = process.argv.slice(2);
const udp = (s) => new Promise((resolve, reject) => {
  const sock = dgram.createSocket('udp4');
  sock.on('error', reject);
  const one = (i) => new Promise((ok, no) => sock.send('pfsim live ' + i, s.dport, s.dst, (e) => (e ? no(e) : ok())));
  sock.bind({ address: s.src, port: s.sport }, async () => {
    // a burst hands the kernel 256 datagrams at a time, as fast as it takes them
    const step = s.burst ? 256 : 1;
    for (let i = 0; i < s.count; i += step) await Promise.all(Array.from({ length: Math.min(step, s.count - i) }, (_, k) => one(i + k)));
    sock.close(resolve);
  });
});
for (const step of JSON.parse(json)) {
  if (step.udp) await udp(step.udp);
  if (step.raw) {
    const { Cap } = createRequire(root + '/package.json')('cap');
    const c = new Cap();
    c.open(step.raw.iface, '', 1 << 20, Buffer.alloc(65535));
    c.send(Buffer.from(step.raw.hex, 'hex'));
    c.close();
  }
}
`;

type Step = { udp: { src: string; sport: number; dst: string; dport: number; count: number; burst?: boolean } } | { raw: { iface: string; hex: string } };

async function send(steps: Step[]): Promise<void> {
  const script = tmp('sender.mjs');
  if (!existsSync(script)) writeFileSync(script, SENDER);
  const r = await ns!.exec(process.execPath, [script, ROOT, JSON.stringify(steps)]);
  if (r.code !== 0) throw new Error(`sender: ${r.stderr.trim() || `exit ${r.code}`}`);
}

const udpSteps = (allowed: number, denied: number): Step[] => [
  { udp: { src: CLIENT, sport: 40001, dst: WEB, dport: 80, count: allowed } },
  { udp: { src: CLIENT, sport: 40002, dst: WEB, dport: 9999, count: denied } },
];

/** A non-IP frame and an IPv4 frame cut inside its header, from the sender's MAC to the capture side. */
function skipSteps(): Step[] {
  const notIp = new Uint8Array(60);
  notIp.set(Buffer.from(capMac.replaceAll(':', ''), 'hex'), 0);
  notIp.set(Buffer.from(sendMac.replaceAll(':', ''), 'hex'), 6);
  notIp.set([0x88, 0xb5], 12); // IEEE 802 local experimental ethertype
  const ip = frame(LINKTYPE_ETHERNET, ipPacket({ src: CLIENT, dst: WEB, proto: 'UDP', sport: 40003, dport: 80 }), { srcMac: sendMac, dstMac: capMac });
  return [
    { raw: { iface: SEND_IF, hex: Buffer.from(notIp).toString('hex') } },
    { raw: { iface: SEND_IF, hex: Buffer.from(ip.subarray(0, 14 + 10)).toString('hex') } },
  ];
}

interface LiveRun {
  readonly child: ChildProcess;
  /** resolves once pfsim says it is listening (its stop conditions are armed by then) */
  readonly ready: Promise<void>;
  readonly done: Promise<{ code: number; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string }>;
}

/** Starts the built CLI inside the namespace (ip netns exec execs it: the pid is pfsim's). */
function startPfsim(args: string[]): LiveRun {
  const child = spawn('ip', ['netns', 'exec', ns!.name, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out: Buffer[] = [];
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => {
    err += b.toString('utf8');
    if (/^pfsim: (listening on|watching) /m.test(err)) onReady();
  });
  const done = new Promise<{ code: number; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      onReady();
      resolve({ code: code ?? -1, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
  return { child, ready, done };
}

/** Runs the CLI in the namespace to completion (for commands that fail before capturing). */
async function pfsimIn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await ns!.exec(process.execPath, [CLI, ...args]);
  return r;
}

function pfsimHost(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface CapturedPacket { src: string; dst: string; sport: number; dport: number; proto: number; status: number; ns: bigint; caplen: number }

function readCaptured(file: string): { packets: CapturedPacket[]; linkType: number } {
  const packets: CapturedPacket[] = [];
  let linkType = -1;
  for (const b of openCapture(file)) {
    for (let i = 0; i < b.count; i++) {
      const m = readMeta(b.meta, i);
      const h = readPacket(b.pkts, i);
      linkType = m.linkType;
      packets.push({ src: formatIp(h.src), dst: formatIp(h.dst), sport: h.sport, dport: h.dport, proto: h.proto, status: m.status, ns: BigInt(m.sec) * 1_000_000_000n + BigInt(m.nsec), caplen: m.caplen });
    }
  }
  return { packets, linkType };
}

const CLUSTER = `apiVersion: v1
kind: Namespace
metadata: {name: live, labels: {kubernetes.io/metadata.name: live}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: live, labels: {app: client}}
spec: {nodeName: n1, containers: [{name: c, image: busybox}]}
status: {phase: Running, podIP: ${CLIENT}, podIPs: [{ip: ${CLIENT}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: live, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, image: nginx}]}
status: {phase: Running, podIP: ${WEB}, podIPs: [{ip: ${WEB}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-udp-80, namespace: live}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]
    ports: [{protocol: UDP, port: 80}]
`;

describe('live: capture and watch on a veth in a private namespace', () => {
  beforeAll(async () => {
    if (gate.ok) await setUpNamespace();
  });
  afterEach(() => {
    // a failed test must not leave a capture running
    for (const c of running) c.kill('SIGKILL');
  });
  afterAll(async () => {
    for (const c of running) c.kill('SIGKILL');
    await ns?.remove();
  });

  it.skipIf(!tcpdumpGate.ok)(gatedTitle('capture --count writes a pcap that pfsim and tcpdump read with the packets sent (ns timestamps)', tcpdumpGate), async () => {
    const file = tmp('count.pcap');
    const run = startPfsim(['capture', '-i', CAP_IF, '--count', '5', '--time-stamp-precision', 'nano', '-w', file]);
    await run.ready;
    const before = BigInt(Date.now()) * 1_000_000n;
    await send(udpSteps(3, 2));
    const r = await run.done;
    const after = BigInt(Date.now()) * 1_000_000n;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^pfsim: captured 5 packets \(0 dropped by the kernel\)$/m);

    const raw = readFileSync(file);
    expect(raw.readUInt32LE(0)).toBe(0xa1b23c4d); // nanosecond pcap
    const { packets, linkType } = readCaptured(file);
    expect(linkType).toBe(1);
    expect(packets.map((p) => `${p.src}:${p.sport}>${p.dst}:${p.dport}/${p.proto}/${p.status}`)).toEqual([
      ...Array(3).fill(`${CLIENT}:40001>${WEB}:80/17/0`),
      ...Array(2).fill(`${CLIENT}:40002>${WEB}:9999/17/0`),
    ]);
    // stamped on arrival: in order, inside the window the test sent in (50 ms of clock slack)
    const slack = 50_000_000n;
    packets.forEach((p, i) => {
      expect(p.ns >= before - slack && p.ns <= after + slack, `packet ${i} at ${p.ns}, window ${before}..${after}`).toBe(true);
      if (i > 0) expect(p.ns >= packets[i - 1]!.ns).toBe(true);
    });

    const td = spawnSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8' });
    expect(td.status, td.stderr).toBe(0);
    const lines = td.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines.slice(0, 3).every((l) => l.includes(`IP ${CLIENT}.40001 > ${WEB}.80: UDP`))).toBe(true);
    expect(lines.slice(3).every((l) => l.includes(`IP ${CLIENT}.40002 > ${WEB}.9999: UDP`))).toBe(true);
  });

  it.skipIf(!gate.ok)(gatedTitle('--filter restricts the capture to what the expression matches', gate), async () => {
    const file = tmp('filter.pcap');
    const run = startPfsim(['capture', '-i', CAP_IF, '--filter', 'udp dst port 9999', '--count', '2', '-w', file]);
    await run.ready;
    // the three port-80 datagrams go first: without the filter they would fill the count
    await send(udpSteps(3, 2));
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const { packets } = readCaptured(file);
    expect(packets.map((p) => p.dport)).toEqual([9999, 9999]);
    expect(readFileSync(file).readUInt32LE(0)).toBe(0xa1b2c3d4); // microseconds by default
  });

  it.skipIf(!gate.ok)(gatedTitle('--duration stops the capture by itself and leaves a complete file', gate), async () => {
    const file = tmp('duration.pcap');
    const run = startPfsim(['capture', '-i', CAP_IF, '--duration', '1.5', '-w', file]);
    await run.ready;
    await send(udpSteps(2, 0));
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stderr).toMatch(/^pfsim: captured 2 packets/m);
    const { packets } = readCaptured(file);
    expect(packets).toHaveLength(2);
    expect(statSync(file).size).toBe(24 + 2 * (16 + packets[0]!.caplen));
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it.skipIf(!tcpdumpGate.ok)(gatedTitle(`${sig} stops an open-ended capture cleanly: exit 0, every packet in a valid file`, tcpdumpGate), async () => {
      const file = tmp(`${sig}.pcap`);
      const run = startPfsim(['capture', '-i', CAP_IF, '-w', file]);
      await run.ready;
      await send(udpSteps(4, 0));
      // the frames are on their way through libpcap's ring; give the event loop time to drain it
      await new Promise((res) => setTimeout(res, 1000));
      run.child.kill(sig);
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^pfsim: captured 4 packets/m);
      expect(readCaptured(file).packets).toHaveLength(4);
      const td = spawnSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8' });
      expect(td.status, td.stderr).toBe(0);
      expect(td.stdout.trim().split('\n')).toHaveLength(4);
    });
  }

  it.skipIf(!gate.ok)(gatedTitle('kernel drops are counted: with a tiny buffer, captured + dropped = every datagram of a burst', gate), async () => {
    const file = tmp('drops.pcap');
    const sent = 3000;
    const run = startPfsim(['capture', '-i', CAP_IF, '--buffer-size', '64', '-w', file]);
    await run.ready;
    await send([{ udp: { src: CLIENT, sport: 40005, dst: WEB, dport: 80, count: sent, burst: true } }]);
    // what reached the ring is delivered before the stop; only then do the counts add up
    await new Promise((res) => setTimeout(res, 1000));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const m = /^pfsim: captured (\d+) packets \((\d+) dropped by the kernel\)$/m.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const captured = Number(m![1]), dropped = Number(m![2]);
    expect(readCaptured(file).packets).toHaveLength(captured);
    // a 64 KiB ring holds a frame or two of a 256-datagram burst: drops are certain
    expect(dropped).toBeGreaterThan(0);
    expect(captured + dropped).toBe(sent);
  });

  it.skipIf(!tcpdumpGate.ok)(gatedTitle('-w - writes the pcap to standard output', tcpdumpGate), async () => {
    const run = startPfsim(['capture', '-i', CAP_IF, '--count', '3', '-w', '-']);
    await run.ready;
    await send(udpSteps(3, 0));
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const file = tmp('stdout.pcap');
    writeFileSync(file, r.stdout);
    expect(readCaptured(file).packets).toHaveLength(3);
    const td = spawnSync('tcpdump', ['-nn', '-r', '-'], { input: r.stdout, encoding: 'utf8' });
    expect(td.stdout.trim().split('\n')).toHaveLength(3);
  });

  it.skipIf(!gate.ok)(gatedTitle('watch prints exactly the denied flow and the summary verdict --pcap gives on a capture of the same frames', gate), async () => {
    const clusterFile = tmp('cluster.yaml');
    writeFileSync(clusterFile, CLUSTER);
    const file = tmp('watched.pcap');
    const total = 3 + 2 + 2;
    const capture = startPfsim(['capture', '-i', CAP_IF, '--count', String(total), '-w', file]);
    const text = startPfsim(['watch', '-i', CAP_IF, '--cluster', clusterFile, '--count', String(total)]);
    const json = startPfsim(['watch', '-i', CAP_IF, '--cluster', clusterFile, '--count', String(total), '--json']);
    await Promise.all([capture.ready, text.ready, json.ready]);
    await send([...udpSteps(3, 2), ...skipSteps()]);
    const [c, t, j] = await Promise.all([capture.done, text.done, json.done]);
    for (const r of [c, t, j]) expect(r.code, r.stderr).toBe(0);

    // the reference: per-packet verdicts of the captured file, folded into flows here
    const v = pfsimHost(['verdict', '--cluster', clusterFile, '--pcap', file, '--engines', 'chain,maps', '--json']);
    expect(v.code, v.stderr).toBe(0);
    const verdicts = v.stdout.trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; reason: string; src?: string; sport?: number; dst?: string; dport?: number; proto?: string; engines: Record<string, string> });
    expect(verdicts).toHaveLength(total);
    const skippedBy: Record<string, number> = {};
    const firstOfFlow = new Map<string, (typeof verdicts)[number]>();
    for (const p of verdicts) {
      if (p.verdict === 'skip') { skippedBy[p.reason] = (skippedBy[p.reason] ?? 0) + 1; continue; }
      const ends = [`${p.src}:${p.sport}`, `${p.dst}:${p.dport}`].sort().join(' ');
      if (!firstOfFlow.has(`${p.proto} ${ends}`)) firstOfFlow.set(`${p.proto} ${ends}`, p);
    }
    const deniedFlows = [...firstOfFlow.values()].filter((p) => Object.values(p.engines).includes('deny'));
    const name = (p: (typeof verdicts)[number]) => `${p.proto} ${p.src}:${p.sport} -> ${p.dst}:${p.dport}`;
    expect(skippedBy).toEqual({ 'not-ip': 1, truncated: 1 });
    expect(deniedFlows.map(name)).toEqual([`UDP ${CLIENT}:40002 -> ${WEB}:9999`]);

    const events = j.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = events.pop()!;
    expect(events.map((e) => [e.type, e.flow, e.engines, e.reason])).toEqual(deniedFlows.map((p) => ['deny', name(p), p.engines, p.reason]));
    expect(summary).toMatchObject({
      type: 'summary', packets: total, judged: total - 2, skipped: 2, skippedBy,
      flows: firstOfFlow.size, allowedFlows: firstOfFlow.size - deniedFlows.length, deniedFlows: deniedFlows.length,
      disagreements: 0, stoppedBy: `count (${total} packets)`, kernelDropped: 0,
    });
    expect((summary.topDenied as { flow: string; packets: number }[]).map((f) => [f.flow, f.packets])).toEqual([[name(deniedFlows[0]!), 2]]);
    const deniedTime = Date.parse(events[0]!.time as string);
    expect(Math.abs(deniedTime - Date.now())).toBeLessThan(120_000);

    const out = t.stdout.toString();
    const [eventLines, summaryText] = out.split('\n\n');
    expect(eventLines!.split('\n')).toHaveLength(1);
    expect(eventLines).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{6}  deny   UDP ${CLIENT}:40002 -> ${WEB}:9999 +chain=deny maps=deny  default deny ingress live/web$`));
    expect(summaryText).toContain(`packets seen ${total} = judged ${total - 2} + skipped 2 (not-ip 1, truncated 1)`);
    expect(summaryText).toContain('flows 2: 1 allowed, 1 denied; engines agree on every packet');
    expect(summaryText).toMatch(/UDP 10\.99\.0\.1:40002 -> 10\.99\.0\.2:9999 +2 pkts/);
  });

  it.skipIf(!gate.ok)(gatedTitle('watch stopped by SIGINT prints the summary of what it saw', gate), async () => {
    const clusterFile = tmp('cluster.yaml');
    writeFileSync(clusterFile, CLUSTER);
    const run = startPfsim(['watch', '-i', CAP_IF, '--cluster', clusterFile, '--json']);
    await run.ready;
    await send(udpSteps(1, 3));
    await new Promise((res) => setTimeout(res, 1000));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(['deny', 'summary']);
    expect(lines[1]).toMatchObject({ stoppedBy: 'SIGINT', packets: 4, judged: 4, flows: 2, deniedFlows: 1 });
  });

  it.skipIf(!gate.ok)(gatedTitle('a bad interface, filter or number is one line naming it, exit non-zero, no file left', gate), async () => {
    const clusterFile = tmp('cluster.yaml');
    writeFileSync(clusterFile, CLUSTER);
    const file = tmp('never.pcap');
    const cases: [string[], string][] = [
      [['capture', '-i', 'nosuch0', '-w', file], 'pfsim: capture: -i nosuch0: no such interface'],
      [['watch', '-i', 'nosuch0', '--cluster', clusterFile], 'pfsim: watch: -i nosuch0: no such interface'],
      [['capture', '-i', CAP_IF, '--filter', 'udp and and', '-w', file], "pfsim: capture: --filter 'udp and and': syntax error"],
      [['capture', '-i', CAP_IF, '--filter', 'udp port 99999', '-w', file], "pfsim: capture: --filter 'udp port 99999': illegal port number 99999 > 65535"],
      [['watch', '-i', CAP_IF, '--filter', 'tcp port', '--cluster', clusterFile], "pfsim: watch: --filter 'tcp port': syntax error"],
      [['capture', '-i', CAP_IF, '--count', '0', '-w', file], 'pfsim: capture: --count 0: not a positive integer'],
      [['watch', '-i', CAP_IF, '--duration', 'soon', '--cluster', clusterFile], 'pfsim: watch: --duration soon: not a positive number of seconds (at most a year)'],
      [['watch', '-i', CAP_IF, '--duration', '1'], 'pfsim: watch: --cluster: give at least one manifest file or directory'],
    ];
    for (const [args, line] of cases) {
      const r = await pfsimIn(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(`${line}\n`);
    }
    expect(existsSync(file)).toBe(false);
  });
});
