/**
 * The replay pool: the same captures through 1, 2 and 3 worker threads (and the main-thread
 * slot) give exactly the sequential Replayer's answers — per-packet verdicts in trace order and
 * the per-connection summary — on stateful traffic whose connections interleave across batch
 * boundaries; the addon runs in every worker; batches are shared memory, judged in place;
 * failures are one-line PfsimErrors, not hangs.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import type { Plan } from '../src/compile/plan.js';
import type { EngineName } from '../src/engines/engine.js';
import { PKT_BYTES, PKT_F_ACK, PKT_F_SYN, writePacket } from '../src/engines/packet.js';
import { PfsimError } from '../src/errors.js';
import { addrBytes, formatIp, parseIp, V4_MAPPED_BASE } from '../src/net/ip.js';
import { formatAddrAt } from '../src/pool/format.js';
import { frame, ipPacket, LINKTYPE_ETHERNET } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { META_FLOW_HASH, META_ORIGLEN, META_STATUS, META_WORDS, openCapture } from '../src/capture/reader.js';
import { flowSlot, shareOut } from '../src/pool/flow-hash.js';
import { SharedRing } from '../src/pool/ring.js';
import { ReplayPool } from '../src/pool/pool.js';
import { wantProgress } from '../src/pool/progress.js';
import { parseWorkers } from '../src/pool/run.js';
import { LocalSlot, ThreadSlot } from '../src/pool/slot.js';
import { ReaderSpread } from '../src/pool/spread.js';
import { FlowCollector } from '../src/pool/collect.js';
import { loadNative } from '../src/engines/native.js';
import { type PacketVerdict, replayCapture } from '../src/verdict/replay.js';
import { FlowTable, renderSummary, type ReplaySummary } from '../src/verdict/summary.js';
import { CLI, pfsim } from './helpers/cli.js';
import { POOL_CLUSTER_YAML, writePoolTrace } from './helpers/pool-trace.js';

const ENGINES: readonly EngineName[] = ['chain', 'maps'];
/** small batches, so every connection spans many of them */
const BATCH = 64;

let dir: string;
let plan: Plan;
let trace: string;
let clusterFile: string;

/** The sequential reference: Replayer + FlowTable, as `replay` ran before the pool. */
function sequential(file: string): { packets: { v: PacketVerdict; wire: number }[]; summary: ReplaySummary } {
  const table = new FlowTable();
  const packets: { v: PacketVerdict; wire: number }[] = [];
  replayCapture(plan, file, ENGINES, { packet: (v, wire) => { packets.push({ v, wire }); table.add(v, wire); } });
  return { packets, summary: table.summary() };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pfsim-pool-'));
  plan = compile(clusterFromText('pool.yaml', POOL_CLUSTER_YAML));
  trace = join(dir, 'mixed.pcap');
  writePoolTrace(trace, 700);
  clusterFile = join(dir, 'cluster.yaml');
  writeFileSync(clusterFile, POOL_CLUSTER_YAML);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the reference trace', () => {
  it('is stateful, mixed and interleaved: the comparisons below mean something', () => {
    const ref = sequential(trace);
    const s = ref.summary;
    expect(s.flows.length).toBeGreaterThan(500);
    expect(s.skipped).toBeGreaterThan(0);
    const reasons = new Set(ref.packets.map((p) => p.v.reason));
    for (const r of ['established', 'not isolated', 'default deny ingress shop/web', 'default deny egress shop/client-a', 'not-ip', 'truncated']) expect(reasons).toContain(r);
    expect(s.flows.some((f) => f.flow.includes('['))).toBe(true);
    expect(s.flows.some((f) => f.flow.startsWith('UDP') && f.packets > 2)).toBe(true); // fragmented answers
    expect(s.flows.some((f) => f.flow.startsWith('ICMP'))).toBe(true);
    // connections outlive a batch: the first and last packet of most flows are batches apart
    const span = new Map<string, [number, number]>();
    for (const { v } of ref.packets) {
      if (v.verdict === 'skip') continue;
      const k = [v.proto, `${v.src}|${v.sport}`, `${v.dst}|${v.dport}`].sort().join(' ');
      const x = span.get(k);
      span.set(k, x ? [x[0], v.index] : [v.index, v.index]);
    }
    const crossing = [...span.values()].filter(([a, b]) => Math.floor(a / BATCH) !== Math.floor(b / BATCH)).length;
    expect(crossing / span.size).toBeGreaterThan(0.5);
  });
});

describe('replay pool equals the sequential replay', () => {
  const cases: { name: string; workers: number; inThread?: boolean }[] = [
    { name: 'main-thread slot', workers: 1, inThread: true },
    { name: '1 worker', workers: 1 },
    { name: '2 workers', workers: 2 },
    { name: '3 workers', workers: 3 },
  ];
  for (const c of cases) {
    it(`${c.name}: per-packet verdicts in trace order and the flow summary`, async () => {
      const ref = sequential(trace);
      // batches of 5, 10, 20, 40, then BATCH packets: the ramp and full batches alike
      const pool = await ReplayPool.open(plan, ENGINES, { workers: c.workers, inThread: c.inThread ?? false, batchSize: BATCH, firstBatch: 5 });
      try {
        const got: { v: PacketVerdict; wire: number }[] = [];
        const r = await pool.replay(trace, { sink: { packet: (v, wire) => got.push({ v, wire }) } });
        expect(got).toEqual(ref.packets);
        // byte-identical output: same fields in the same order
        expect(got.map((p) => JSON.stringify(p.v)).join('\n')).toBe(ref.packets.map((p) => JSON.stringify(p.v)).join('\n'));
        expect(JSON.stringify(r.summary)).toBe(JSON.stringify(ref.summary));
        expect(r.judged + r.totals.skipped).toBe(r.totals.packets);
        expect(r.disagreements).toBe(ref.summary.disagreements);

        // the pool keeps its engines: a second replay starts from fresh conntrack and agrees again
        const again = (await pool.replay(trace)).summary!;
        expect({ ...again, flows: [...again.flows] }).toEqual(ref.summary);
        // the first summary's columns are its own: the slots counted the second replay elsewhere
        expect(JSON.stringify(r.summary)).toBe(JSON.stringify(ref.summary));
        // the column list reads as FlowTable's array, at any place and as the report
        const flows = again.flows, want = ref.summary.flows;
        expect(flows.length).toBe(want.length);
        for (const i of [0, 1, want.length >> 1, want.length - 1]) expect(flows.at(i)).toEqual(want[i]);
        expect(flows.at(-1)).toEqual(want.at(-1));
        expect(flows.at(want.length)).toBeUndefined();
        expect(flows.at(-want.length - 1)).toBeUndefined();
        expect(renderSummary(again, ENGINES)).toBe(renderSummary(ref.summary, ENGINES));
      } finally {
        await pool.close();
      }
    }, 60_000);
  }

  it('with the aws engine: its departures per packet and per flow as in the sequential replay', async () => {
    const engines: EngineName[] = ['maps', 'aws', 'chain'];
    const table = new FlowTable();
    const ref: PacketVerdict[] = [];
    replayCapture(plan, trace, engines, { packet: (v, wire) => { ref.push(v); table.add(v, wire); } });
    const refSummary = table.summary();
    expect(ref.some((v) => v.departure !== undefined)).toBe(true);
    const pool = await ReplayPool.open(plan, engines, { workers: 2, batchSize: BATCH });
    try {
      const got: PacketVerdict[] = [];
      const r = await pool.replay(trace, { sink: { packet: (v) => got.push(v) } });
      expect(JSON.stringify(got)).toBe(JSON.stringify(ref));
      expect(JSON.stringify(r.summary)).toBe(JSON.stringify(refSummary));
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('--max-flows: the first connections listed, later ones added up; the same for any number of workers', async () => {
    for (const engines of [ENGINES, ['maps', 'aws', 'chain'] as EngineName[]]) {
      const table = new FlowTable(50);
      replayCapture(plan, trace, engines, { packet: (v, wire) => table.add(v, wire) });
      const ref = table.summary();
      expect(ref.flows.length).toBe(50);
      expect(ref.others!.maxFlows).toBe(50);
      // nothing lost: every judged packet is in a listed flow or in others
      expect(ref.flows.reduce((n, f) => n + f.packets, 0) + ref.others!.packets).toBe(ref.judged);
      expect(ref.others!.packets).toBeGreaterThan(ref.judged / 2);
      const all = new FlowTable();
      replayCapture(plan, trace, engines, { packet: (v, wire) => all.add(v, wire) });
      const full = all.summary();
      expect(full.others).toBeUndefined();
      // the listed flows are exactly the first 50 connections, with their full counts
      const listed = new Set(ref.flows.map((f) => f.flow));
      const first = full.flows.filter((f) => listed.has(f.flow));
      expect(first.length).toBe(50);
      expect(JSON.stringify(first)).toBe(JSON.stringify(ref.flows));
      if (engines.includes('aws')) expect(ref.departures).toEqual(full.departures);
      for (const c of [{ workers: 1, inThread: true }, { workers: 1 }, { workers: 2 }, { workers: 3 }]) {
        const pool = await ReplayPool.open(plan, engines, { workers: c.workers, inThread: c.inThread ?? false, batchSize: BATCH });
        try {
          const r = await pool.replay(trace, { maxFlows: 50 });
          expect(JSON.stringify(r.summary), `${c.workers} ${engines.join(',')}`).toBe(JSON.stringify(ref));
        } finally {
          await pool.close();
        }
      }
    }
  }, 60_000);

  it('conntrack ages by capture time in the workers as in the sequential replay, and one worker keeps --ct-max entries as it does', async () => {
    // the same packets two seconds apart: UDP and unanswered TCP entries expire mid-trace
    const slow = join(dir, 'slow.pcap');
    const b = readFileSync(trace);
    let n = 0;
    for (let off = 24; off + 16 <= b.length; off += 16 + b.readUInt32LE(off + 8)) b.writeUInt32LE(1_700_000_000 + 2 * n++, off);
    writeFileSync(slow, b);
    const seq = (file: string, ctMax?: number) => {
      const packets: PacketVerdict[] = [];
      const table = new FlowTable();
      replayCapture(plan, file, ENGINES, { packet: (v, wire) => { packets.push(v); table.add(v, wire); } }, {}, ctMax === undefined ? {} : { ctMax });
      return { packets, summary: table.summary() };
    };
    const fast = seq(trace), aged = seq(slow), small = seq(slow, 8);
    const established = (r: { packets: PacketVerdict[] }) => r.packets.filter((v) => v.reason === 'established').length;
    // the comparisons below mean something: aging and the limit change verdicts
    expect(established(aged)).toBeLessThan(established(fast));
    expect(small.packets.some((v) => v.reason.startsWith('conntrack table full'))).toBe(true);
    for (const [ref, ctMax] of [[aged, undefined], [small, 8]] as const) {
      // --ct-max is split among the workers' tables: exact for one worker only
      const counts = ctMax === undefined ? [{ workers: 1, inThread: true }, { workers: 2 }, { workers: 3 }] : [{ workers: 1, inThread: true }, { workers: 1 }];
      for (const c of counts) {
        const pool = await ReplayPool.open(plan, ENGINES, { workers: c.workers, inThread: c.inThread ?? false, batchSize: BATCH, ...(ctMax ? { ctMax } : {}) });
        try {
          const got: PacketVerdict[] = [];
          const r = await pool.replay(slow, { sink: { packet: (v) => got.push(v) } });
          expect(JSON.stringify(got)).toBe(JSON.stringify(ref.packets));
          expect(JSON.stringify(r.summary)).toBe(JSON.stringify(ref.summary));
        } finally {
          await pool.close();
        }
      }
    }
  }, 60_000);

  it('a capture cut inside a record: the packets before the fault, then the same CaptureError', async () => {
    const cut = join(dir, 'cut.pcap');
    copyFileSync(trace, cut);
    truncateSync(cut, Math.floor(statSync(trace).size * 0.6));
    const ref: PacketVerdict[] = [];
    let refErr: unknown;
    try {
      replayCapture(plan, cut, ENGINES, { packet: (v) => ref.push(v) });
    } catch (e) {
      refErr = e;
    }
    const pool = await ReplayPool.open(plan, ENGINES, { workers: 2, batchSize: BATCH });
    try {
      const got: PacketVerdict[] = [];
      const err = await pool.replay(cut, { sink: { packet: (v) => got.push(v) } }).then(() => undefined, (e: unknown) => e);
      expect(got).toEqual(ref);
      if (refErr === undefined) {
        // the cut fell on a record boundary or in data: a truncated-record slot, no error
        expect(err).toBeUndefined();
      } else {
        expect(err).toBeInstanceOf(PfsimError);
        expect((err as PfsimError).message).toBe((refErr as PfsimError).message);
      }
    } finally {
      await pool.close();
    }
  });
});

describe('workers', () => {
  it('each worker is its own thread and calls into the native addon', async () => {
    const pool = await ReplayPool.open(plan, ENGINES, { workers: 3 });
    try {
      const info = await pool.workerInfo();
      expect(info.map((w) => w.slot)).toEqual([0, 1, 2]);
      const ids = info.map((w) => w.threadId);
      expect(new Set(ids).size).toBe(3);
      expect(ids).not.toContain(threadId);
      for (const w of info) expect(w.nativeCtCapacity).toBe(16);
      expect(pool.threads.map((t) => t.threadId).sort()).toEqual([...ids].sort());
    } finally {
      await pool.close();
    }
    expect(pool.threads).toEqual([]);
  });

  it('usage: each worker tells the packets it judged and its own thread CPU time, from the start of the replay', async () => {
    const pool = await ReplayPool.open(plan, ENGINES, { workers: 2, batchSize: BATCH });
    const here = await ReplayPool.open(plan, ENGINES, { workers: 1, inThread: true, batchSize: BATCH });
    try {
      const r = await pool.replay(trace, { summary: false, usage: true });
      const u = r.usage!;
      expect(u).toHaveLength(2);
      expect(u[0]!.judged + u[1]!.judged).toBe(r.judged);
      // the connections are spread over both workers
      for (const w of u) expect(w.judged).toBeGreaterThan(r.judged / 10);
      // Linux: /proc/thread-self/schedstat of the worker thread, since 'start' (a second replay does not add up)
      for (const w of u) expect(w.cpuMs).toBeGreaterThan(0);
      const again = (await pool.replay(trace, { summary: false, usage: true })).usage!;
      expect(again.map((w) => w.judged)).toEqual(u.map((w) => w.judged));
      // without asking, nothing is asked
      expect((await pool.replay(trace, { summary: false })).usage).toBeUndefined();
      // the main-thread slot counts its packets; its CPU time is the reader's too, so none is given
      expect((await here.replay(trace, { summary: false, usage: true })).usage).toEqual([{ judged: r.judged }]);
    } finally {
      await Promise.all([pool.close(), here.close()]);
    }
  });

  it('reader batches are shared memory: a worker judges one in place, as the main-thread slot does', async () => {
    const count = 200;
    const fill = (ring: SharedRing) => {
      const r = ring.batch(1);
      for (let i = 0; i < count; i++) {
        const inbound = i % 2 === 0;
        const a = parseIp(`10.1.0.${inbound ? 30 : 40}`)!, web = parseIp('10.1.0.10')!;
        writePacket(r.pkts, i, { src: a, dst: web, proto: 6, sport: 30000 + i, dport: 80, flags: PKT_F_SYN });
        r.meta[i * META_WORDS + META_ORIGLEN] = 60;
      }
      expect(shareOut(r, count, 1)).toBe(0);
    };
    const shared = SharedRing.create(2, 256, ENGINES.length, 1);
    const local = SharedRing.create(2, 256, ENGINES.length, 1);
    expect(shared.shape.buffer).toBeInstanceOf(SharedArrayBuffer);
    fill(shared);
    fill(local);
    const worker = new ThreadSlot(0, 1, plan, ENGINES, shared);
    const here = new LocalSlot(plan, ENGINES, local);
    try {
      await Promise.all([worker.init(), here.init()]);
      const mode = { flows: true, perPacket: true };
      await Promise.all([worker.start(mode), here.start(mode)]);
      const verdicts = shared.batch(1).verdicts.subarray(0, count * 2);
      expect(verdicts.every((v) => v === 0)).toBe(true);
      const outcome = await worker.judge(1, count, 5000);
      const ref = await here.judge(1, count, 5000);
      // written by the worker thread into memory this thread sees: nothing came back but the outcome
      expect(verdicts).toEqual(local.batch(1).verdicts.subarray(0, count * 2));
      expect([...verdicts].filter((v) => v === 1).length).toBe(count); // 30 → web:80 allowed, rogue denied, per engine
      expect(shared.batch(0).verdicts.every((v) => v === 0)).toBe(true); // the other batch untouched
      expect(outcome.newReasons).toEqual(ref.newReasons);
      const flows = await worker.flows();
      expect(flows).toEqual(await here.flows());
      // every packet opened a flow: each one's first packet is its own place in the trace
      expect([...flows.first]).toEqual([...Array(count).keys()].map((i) => 5000 + i));
      expect(Buffer.from(flows.names).toString('latin1').split('\n').slice(0, 2)).toEqual(['TCP 10.1.0.30:30000 -> 10.1.0.10:80', 'TCP 10.1.0.40:30001 -> 10.1.0.10:80']);
    } finally {
      await Promise.all([worker.close(), here.close()]);
    }
  });
});

describe('reader spread', () => {
  const addon = loadNative() as unknown as { threadCpus(): number[]; setThreadCpus(c: readonly number[]): void };
  const cpus = addon.threadCpus();

  it('the addon reads and sets the calling thread\'s CPUs, and refuses a bad CPU number in one line', () => {
    expect(cpus.length).toBeGreaterThan(0);
    expect([...cpus].sort((a, b) => a - b)).toEqual(cpus);
    try {
      addon.setThreadCpus([cpus[0]!]);
      expect(addon.threadCpus()).toEqual([cpus[0]]);
    } finally {
      addon.setThreadCpus(cpus);
    }
    expect(addon.threadCpus()).toEqual(cpus);
    expect(() => addon.setThreadCpus([-1])).toThrow(/^setThreadCpus: cpus\[0\] is not a CPU number below 1024$/);
    expect(() => addon.setThreadCpus([])).toThrow(/^setThreadCpus: cpus: not a non-empty array$/);
  });

  it.skipIf(cpus.length < 2)('moves the reader core by core only when the workers fill the cores, and gives every CPU back', async () => {
    expect(ReaderSpread.start(cpus.length - 1)).toBeUndefined();
    const spread = ReaderSpread.start(cpus.length)!;
    expect(spread).toBeDefined();
    try {
      const seen: number[][] = [];
      for (let i = 0; i < cpus.length + 1; i++) {
        spread.step();
        seen.push(addon.threadCpus());
      }
      expect(seen).toEqual([...cpus, cpus[0]!].map((c) => [c]));
    } finally {
      spread.restore();
    }
    expect(addon.threadCpus()).toEqual(cpus);
    // a pool replay with a worker per core leaves the main thread its CPUs, after success and failure
    const pool = await ReplayPool.open(plan, ENGINES, { workers: cpus.length, batchSize: BATCH });
    try {
      await pool.replay(trace);
      expect(addon.threadCpus()).toEqual(cpus);
      const bad = join(dir, 'spread-bad.pcap');
      writeFileSync(bad, Buffer.alloc(64, 0x5a)); // no capture magic
      await expect(pool.replay(bad)).rejects.toBeInstanceOf(PfsimError);
      expect(addon.threadCpus()).toEqual(cpus);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('flow hash', () => {
  it('the reader gives both directions of a connection the same hash, whatever the flags, and it spreads connections over slots', () => {
    const file = join(dir, 'hash.pcap');
    const w = new PcapWriter(file, { linkType: LINKTYPE_ETHERNET });
    let r = 1;
    const next = () => { r = (Math.imul(r, 1103515245) + 12345) >>> 0; return r >>> 8; };
    const n = 3000;
    for (let i = 0; i < n; i++) {
      const v6 = i % 3 === 0;
      const a = v6 ? `2001:db8::${(next() & 0xffff).toString(16)}:${(next() & 0xffff).toString(16)}` : `10.${next() & 255}.${next() & 255}.${next() & 255}`;
      const b = v6 ? `fd00::${(next() & 0xffff).toString(16)}` : `192.168.${next() & 255}.${next() & 255}`;
      const proto = (['TCP', 'UDP', 'SCTP'] as const)[i % 3]!;
      const sport = 1 + (next() % 65535), dport = 1 + (next() % 65535);
      w.writePacket(BigInt(i) * 1000n, frame(LINKTYPE_ETHERNET, ipPacket({ src: a, dst: b, proto, sport, dport, tcpFlags: ['SYN'] })));
      w.writePacket(BigInt(i) * 1000n + 1n, frame(LINKTYPE_ETHERNET, ipPacket({ src: b, dst: a, proto, sport: dport, dport: sport, tcpFlags: ['SYN', 'ACK'] })));
      // the same ends over another protocol: (almost always) another hash
      w.writePacket(BigInt(i) * 1000n + 2n, frame(LINKTYPE_ETHERNET, ipPacket({ src: a, dst: b, proto: proto === 'UDP' ? 'TCP' : 'UDP', sport, dport })));
    }
    w.close();
    const counts = [new Array(2).fill(0), new Array(3).fill(0)];
    let seen = 0, sameAcrossProto = 0;
    for (const batch of openCapture(file, { batchSize: 999 })) {
      expect(batch.count % 3).toBe(0);
      for (let i = 0; i < batch.count; i += 3) {
        const h = batch.meta[i * META_WORDS + META_FLOW_HASH]!;
        expect(batch.meta[(i + 1) * META_WORDS + META_FLOW_HASH]).toBe(h);
        if (batch.meta[(i + 2) * META_WORDS + META_FLOW_HASH] === h) sameAcrossProto++;
        expect(flowSlot(batch.meta, i + 1, 3)).toBe(flowSlot(batch.meta, i, 3));
        counts[0]![flowSlot(batch.meta, i, 2)]++;
        counts[1]![flowSlot(batch.meta, i, 3)]++;
        seen++;
      }
    }
    expect(seen).toBe(n);
    expect(sameAcrossProto).toBeLessThan(3);
    for (const c of counts) for (const k of c) expect(k).toBeGreaterThan((n / c.length) * 0.85);
  });

  it("shareOut: every parsed packet's position in its slot's run, in trace order; skipped packets in none", () => {
    for (const slots of [1, 2, 3, 7]) {
      const count = 500;
      const ring = SharedRing.create(1, 512, ENGINES.length, slots);
      const r = ring.batch(0);
      r.order.fill(0xffffffff);
      let x = 7;
      const skipped = new Set<number>();
      for (let i = 0; i < count; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        r.meta[i * META_WORDS + META_FLOW_HASH] = x;
        // the reader's skip statuses are non-zero; their hash words mean nothing
        if (x % 11 === 0) { r.meta[i * META_WORDS + META_STATUS] = 3; skipped.add(i); }
      }
      expect(shareOut(r, count, slots)).toBe(skipped.size);
      expect(r.starts[0]).toBe(0);
      expect(r.starts[slots]).toBe(count - skipped.size);
      for (let s = 0; s < slots; s++) {
        const run = [...r.order.subarray(r.starts[s]!, r.starts[s + 1]!)];
        const want = [...Array(count).keys()].filter((i) => !skipped.has(i) && flowSlot(r.meta, i, slots) === s);
        expect(run).toEqual(want);
        for (const i of want) expect(r.owner[i]).toBe(s);
      }
    }
    // the arrays are checked before anything is written
    const r = SharedRing.create(1, 8, ENGINES.length, 2).batch(0);
    expect(() => shareOut(r, 9, 2)).toThrow(/^shareOut: meta holds 8 records, count is 9$/);
    expect(() => shareOut(r, 8, 3)).toThrow(/^shareOut: starts holds 3 entries, slots is 3$/);
    expect(() => shareOut(r, 8, 0)).toThrow(/^shareOut: slots 0 is not in 1\.\.255$/);
  });
});

describe('report order', () => {
  type OrderFlows = (firsts: Float64Array[], groups: Uint8Array[], limit: number, outSlot: Uint8Array, outId: Uint32Array, taken: Uint32Array, groupLen: Uint32Array) => number;
  const orderFlows = (loadNative() as unknown as { orderFlows: OrderFlows }).orderFlows;

  it('the C merge gives the first flows of the trace by group, first-seen order within each, as a sort does', () => {
    // slots' lists: distinct first places dealt out to slots, each list ascending; groups 0..3
    const lists = fc.integer({ min: 1, max: 6 }).chain((slots) => fc.record({
      slots: fc.constant(slots),
      flows: fc.uniqueArray(fc.record({ first: fc.integer({ min: 0, max: 1e6 }), slot: fc.integer({ min: 0, max: slots - 1 }), group: fc.integer({ min: 0, max: 3 }) }),
        { maxLength: 300, selector: (f) => f.first }),
      limit: fc.integer({ min: 0, max: 350 }),
    }));
    fc.assert(fc.property(lists, ({ slots, flows, limit }) => {
      const bySlot = Array.from({ length: slots }, (_, s) => flows.filter((f) => f.slot === s).sort((a, b) => a.first - b.first));
      const firsts = bySlot.map((l) => Float64Array.from(l, (f) => f.first));
      const groups = bySlot.map((l) => Uint8Array.from(l, (f) => f.group));
      const n = Math.min(limit, flows.length);
      const outSlot = new Uint8Array(n), outId = new Uint32Array(n), taken = new Uint32Array(slots), groupLen = new Uint32Array(4);
      expect(orderFlows(firsts, groups, limit, outSlot, outId, taken, groupLen)).toBe(n);
      // the reference: every flow by first place, the first `limit`, then a stable sort by group
      const first = [...flows].sort((a, b) => a.first - b.first).slice(0, n);
      const want = [...first].sort((a, b) => a.group - b.group);
      expect([...outSlot].map((s, k) => bySlot[s]![outId[k]!]!.first)).toEqual(want.map((f) => f.first));
      expect([...taken]).toEqual(bySlot.map((_, s) => first.filter((f) => f.slot === s).length));
      expect([...groupLen]).toEqual([0, 1, 2, 3].map((g) => first.filter((f) => f.group === g).length));
    }), { numRuns: 300 });
  });

  it('arrays that cannot hold the call, and groups out of range, are one-line errors', () => {
    const f = [new Float64Array([1, 2])], g = [new Uint8Array([0, 3])];
    const out = () => [new Uint8Array(2), new Uint32Array(2), new Uint32Array(1), new Uint32Array(4)] as const;
    expect(() => orderFlows(f, g, 2, ...out())).not.toThrow();
    expect(() => orderFlows(f, [new Uint8Array([0, 4])], 2, ...out())).toThrow(/^orderFlows: a group is not in 0\.\.3$/);
    expect(() => orderFlows(f, [new Uint8Array(1)], 2, ...out())).toThrow(/^orderFlows: slot 0 has 2 firsts and 1 groups$/);
    expect(() => orderFlows(f, [], 2, ...out())).toThrow(/^orderFlows: 1 slots' firsts and 0 slots' groups/);
    expect(() => orderFlows([], [], 2, ...out())).toThrow(/^orderFlows: 0 slots' firsts/);
    expect(() => orderFlows(f, [new Uint32Array(2)] as never, 2, ...out())).toThrow(/^orderFlows: slot 0: firsts must be a Float64Array and groups a Uint8Array$/);
    expect(() => orderFlows(f, g, 2, new Uint8Array(1), new Uint32Array(2), new Uint32Array(1), new Uint32Array(4))).toThrow(/^orderFlows: outSlot and outId hold 1 and 2 flows, 2 are placed$/);
    expect(() => orderFlows(f, g, 1, new Uint8Array(1), new Uint32Array(1), new Uint32Array(1), new Uint32Array(4))).not.toThrow();
    expect(() => orderFlows(f, g, 2, new Uint8Array(2), new Uint32Array(2), new Uint32Array(0), new Uint32Array(4))).toThrow(/^orderFlows: taken holds 0 entries, slots is 1$/);
    expect(() => orderFlows(f, g, 2, new Uint8Array(2), new Uint32Array(2), new Uint32Array(1), new Uint32Array(3))).toThrow(/^orderFlows: groupLen holds 3 entries, groups are 4$/);
    expect(() => orderFlows(f, g, -1, ...out())).toThrow(/^limit: not a u32 integer$/);
  });
});

describe('flow names', () => {
  it('a summary of 300,000 flows renders (no spread of every name length onto the stack)', () => {
    const n = 300_000;
    const flows = Array.from({ length: n }, (_, i) => ({
      flow: `TCP 10.0.${i >> 16}.1:${i & 0xffff} -> 10.1.0.10:80`, packets: 1, bytes: 60, verdicts: { chain: 'allow' as const }, allowed: { chain: 1 }, disagreements: 0, reason: 'x',
    }));
    const text = renderSummary({ flows, packets: n, judged: n, skipped: 0, skippedBy: {}, disagreements: 0 }, ['chain']);
    expect(text.split('\n').length).toBe(n + 5);
  });

  it('addresses from record bytes read exactly as formatIp writes them', () => {
    const buf = new Uint8Array(16);
    const cases: bigint[] = ['::', '::1', '1::', 'fd00:1::10', '2001:db8:0:0:1:0:0:1', '2001:0:0:1:0:0:0:1', '1:0:1:0:1:0:1:0', 'ffff::ffff:0:0',
      '::ffff:0:0', '::ffff:10.1.2.3', '::fffe:10.1.2.3', '0:0:0:0:0:1:ffff:1', '1:2:3:4:5:6:7:8', '::ffff:ffff:ffff']
      .map((t) => parseIp(t)!);
    let r = 7;
    const next = () => { r = (Math.imul(r, 1103515245) + 12345) >>> 0; return r >>> 16; };
    for (let i = 0; i < 2000; i++) {
      let a = 0n;
      // mostly zero words, so zero runs of every length and place occur
      for (let k = 0; k < 8; k++) a = (a << 16n) | BigInt(next() % 3 === 0 ? next() : 0);
      cases.push(a, V4_MAPPED_BASE | BigInt(next() * 65536 + next()));
    }
    for (const a of cases) {
      addrBytes(a, buf, 0);
      expect(formatAddrAt(buf, 0)).toBe(formatIp(a));
    }
  });
});

describe('failures', () => {
  it('an engine that cannot load in a worker: one PfsimError line, nothing left running', async () => {
    // a maps plan the native layout refuses: an LPM entry that is no prefix
    const bad = structuredClone(plan) as Plan & { maps: { tries: { entries: { prefix: string }[] }[] } };
    bad.maps.tries[0]!.entries[0]!.prefix = 'not-a-prefix';
    const err = await ReplayPool.open(bad, ENGINES, { workers: 2 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PfsimError);
    const msg = (err as PfsimError).message;
    expect(msg).toMatch(/^replay worker [12]: /);
    expect(msg).not.toContain('\n');
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('a worker thread that dies mid-replay fails the replay with PFSIM_ERR_WORKER, then closes', async () => {
    const big = join(dir, 'big.pcap');
    writePoolTrace(big, 4000, 11);
    const pool = await ReplayPool.open(plan, ENGINES, { workers: 2, batchSize: BATCH });
    let killed = false;
    const err = await pool.replay(big, {
      onProgress: () => {
        if (killed) return;
        killed = true;
        void pool.threads[1]!.terminate();
      },
    }).then(() => undefined, (e: unknown) => e);
    expect(killed).toBe(true);
    expect(err).toBeInstanceOf(PfsimError);
    expect((err as PfsimError).code).toBe('PFSIM_ERR_WORKER');
    expect((err as PfsimError).message).toMatch(/^replay worker 2: /);
    expect((err as PfsimError).message).not.toContain('\n');
    // a replacement thread has no engines: it must refuse, not judge from empty conntrack
    const again = await pool.replay(trace).then(() => undefined, (e: unknown) => e);
    expect((again as PfsimError).code).toBe('PFSIM_ERR_WORKER');
    // 'start' goes ahead of the first batch unawaited: its failure still ends the replay
    expect((again as PfsimError).message).toMatch(/^replay worker 2: /);
    await pool.close();
    expect(pool.threads).toEqual([]);
  }, 60_000);

  it('a worker refuses a batch out of turn instead of judging it against the wrong conntrack', async () => {
    const slot = new ThreadSlot(0, 1, plan, ENGINES, SharedRing.create(2, 16, ENGINES.length, 1));
    try {
      await slot.init();
      await slot.start({ flows: true, perPacket: false });
      await slot.judge(0, 0, 0);
      (slot as unknown as { seq: number }).seq = 5; // as if batches 1..4 had overtaken
      const err = await slot.judge(1, 0, 0).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(PfsimError);
      expect((err as PfsimError).message).toBe('replay worker 1: batch 5 arrived when batch 1 was due');
    } finally {
      await slot.close();
    }
  });

  it('flow counters that do not hold every flow they count are a worker error, not a wrong summary', async () => {
    const slot = new LocalSlot(plan, ENGINES, SharedRing.create(1, 64, ENGINES.length, 1));
    await slot.init();
    try {
      await slot.start({ flows: true, perPacket: false });
      const good = await slot.flows();
      expect(new FlowCollector(ENGINES, 1, 10).finish([good], [[]]).flows.length).toBe(0);
      const bad = { ...good, count: 1 };
      expect(() => new FlowCollector(ENGINES, 1, 10).finish([bad], [[]])).toThrow(/^replay worker 1: flow counters of 1 flows do not hold them all$/);
    } finally {
      await slot.close();
    }
  });

  it('bad pool options are usage errors', async () => {
    for (const w of [0, -1, 1.5, 255]) await expect(ReplayPool.open(plan, ENGINES, { workers: w })).rejects.toMatchObject({ code: 'PFSIM_ERR_USAGE' });
    await expect(ReplayPool.open(plan, ENGINES, { workers: 2, inThread: true })).rejects.toMatchObject({ code: 'PFSIM_ERR_USAGE' });
    for (const firstBatch of [0, 65, 2.5]) await expect(ReplayPool.open(plan, ENGINES, { workers: 1, batchSize: 64, firstBatch })).rejects.toMatchObject({ code: 'PFSIM_ERR_USAGE' });
    for (const t of ['0', 'two', '2.5', '', '-3', '1e3']) expect(() => parseWorkers(t)).toThrow(/^--workers: /);
    expect(parseWorkers('3')).toBe(3);
  });
});

describe('progress bar', () => {
  const tty = { isTTY: true }, pipe = { isTTY: false };
  it('only for a person at a terminal: not in CI, not with --json, not over streamed stdout lines', () => {
    expect(wantProgress({ json: false, streamsStdout: false, env: {}, stderr: tty, stdout: tty })).toBe(true);
    expect(wantProgress({ json: false, streamsStdout: false, env: {}, stderr: pipe, stdout: tty })).toBe(false);
    expect(wantProgress({ json: false, streamsStdout: false, env: { CI: 'true' }, stderr: tty, stdout: tty })).toBe(false);
    expect(wantProgress({ json: false, streamsStdout: false, env: { CI: '1' }, stderr: tty, stdout: tty })).toBe(false);
    expect(wantProgress({ json: false, streamsStdout: false, env: { CI: 'false' }, stderr: tty, stdout: tty })).toBe(true);
    expect(wantProgress({ json: true, streamsStdout: false, env: {}, stderr: tty, stdout: tty })).toBe(false);
    expect(wantProgress({ json: false, streamsStdout: true, env: {}, stderr: tty, stdout: tty })).toBe(false);
    expect(wantProgress({ json: false, streamsStdout: true, env: {}, stderr: tty, stdout: pipe })).toBe(true);
  });
});

describe('CLI --workers', () => {
  const cluster = () => ['--cluster', clusterFile, '--engines', 'chain,maps'];
  it('replay: the summary and its JSON are the same with 1, 2 and 3 workers', () => {
    const outs = [1, 2, 3].map((w) => {
      const json = join(dir, `summary-${w}.json`);
      const r = pfsim(['replay', ...cluster(), '--pcap', trace, '--workers', String(w), '--json', json]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe(''); // not a terminal: no progress bar
      return { stdout: r.stdout, json: readFileSync(json, 'utf8') };
    });
    expect(outs[0]!.stdout).toMatch(/packets in \d+ = judged \d+ \+ skipped \d+/);
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
  }, 60_000);

  it('verdict --pcap --json: one line per packet in trace order, the same with 1 and 3 workers', () => {
    // about 1.5 MB of lines: more than the helper's default spawn buffer
    const run = (w: string) => {
      const r = spawnSync(process.execPath, [CLI, 'verdict', ...cluster(), '--pcap', trace, '--json', '--workers', w], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const one = run('1');
    const three = run('3');
    expect(one.code, one.stderr).toBe(0);
    expect(three.code, three.stderr).toBe(0);
    expect(three.stdout).toBe(one.stdout);
    expect(one.stdout.trim().split('\n').map((l) => JSON.parse(l).index)).toEqual([...one.stdout.trim().split('\n').keys()]);
  }, 60_000);

  it('replay --max-flows: one line for the connections after the first N; a bad value is one usage line', () => {
    const r = pfsim(['replay', ...cluster(), '--pcap', trace, '--workers', '2', '--max-flows', '20']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\(connections after the first 20\) +\d+ +\d+ +\d+\/\d+ allowed, \d+\/\d+ allowed; not listed one by one \(--max-flows\)$/m);
    expect(r.stdout).toMatch(/^flows 20 listed: /m);
    for (const bad of ['0', 'x', '-5']) {
      const e = pfsim(['replay', ...cluster(), '--pcap', trace, '--max-flows', bad]);
      expect(e.code).toBe(2);
      expect(e.stderr).toBe(`pfsim: --max-flows: "${bad}" is not a positive integer\n`);
    }
  });

  it('a bad --workers is one usage line and exit 2', () => {
    for (const w of ['0', 'x', '1.5']) {
      const r = pfsim(['replay', ...cluster(), '--pcap', trace, '--workers', w]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`pfsim: --workers: "${w}" is not an integer in 1..254\n`);
    }
  });
});
