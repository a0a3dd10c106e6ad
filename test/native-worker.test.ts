/**
 * The addon loaded in several worker threads at once: each environment defines its own
 * Classifier class, each instance owns its state, and all give the main thread's verdicts.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeMaps } from '../src/compile/layout.js';
import type { MapsPlan } from '../src/compile/plan.js';
import { PROTO_ANY } from '../src/compile/plan.js';
import { OUT_WORDS } from '../src/engines/engine.js';
import { ADDON_PATH, createClassifier, packageRoot } from '../src/engines/native.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { V4_MAPPED_BASE } from '../src/net/ip.js';

// plain CommonJS so the worker needs no TypeScript loader: it requires the addon directly
const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { Classifier } = require(w.addon);
const c = new Classifier({ ctCapacity: 4096 });
const l = w.layout;
c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
const results = [];
for (const stateful of [false, true, true]) {
  const out = new Uint32Array(w.count * 4);
  for (let r = 0; r < w.rounds; r++) c.classifyBatch(w.pkts, w.count, out, stateful);
  results.push(out);
}
const stats = c.stats();
if (!w.leak) c.close();
parentPort.postMessage({ results, stats });
`;

function plan(): MapsPlan {
  const entries = [];
  for (let i = 0; i < 500; i++) entries.push({ prefix: `10.${i >> 8}.${i & 255}.0/24`, value: i % 2, rules: [] });
  entries.push({ prefix: 'fd00::/16', value: 0, rules: [] });
  entries.sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
  return {
    podState: [
      { ip: '192.168.0.1', pod: 0, ingress: 1, egress: 0 },
      { ip: '192.168.0.2', pod: 1, ingress: 0, egress: 1 },
    ],
    tries: [
      { id: 0, pod: 0, dir: 'ingress', entries },
      { id: 3, pod: 1, dir: 'egress', entries: [{ prefix: '192.168.0.0/24', value: 1, rules: [] }] },
    ],
    values: [[{ proto: PROTO_ANY, start: 0, end: 65535 }], [{ proto: 6, start: 80, end: 90 }]],
  };
}

function packets(count: number): Uint8Array {
  const pkts = packetBatch(count);
  let s = 12345;
  const next = () => { s = (s * 1103515245 + 12345) >>> 0; return s >>> 8; };
  for (let i = 0; i < count; i++) {
    const remote = V4_MAPPED_BASE | BigInt(0x0a000000 + (next() % 0x30000));
    const pod = V4_MAPPED_BASE | BigInt(0xc0a80000 + 1 + (i % 2));
    const inbound = i % 3 !== 0;
    writePacket(pkts, i, { src: inbound ? remote : pod, dst: inbound ? pod : remote, proto: i % 5 === 0 ? 17 : 6, sport: 1000 + (i % 7), dport: 75 + (i % 20) });
  }
  return pkts;
}

interface WorkerResult { results: Uint32Array[]; stats: { ctEntries: number } }

function runWorker(data: object): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: data });
    let got: WorkerResult | undefined;
    w.on('message', (m: WorkerResult) => { got = m; });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && got ? resolve(got) : reject(new Error(`worker exit ${code}`))));
  });
}

describe('native addon in worker threads', () => {
  const count = 2000;
  const layout = encodeMaps(plan());
  const pkts = packets(count);
  const addon = join(packageRoot(), ADDON_PATH);

  function expected(): Uint32Array[] {
    const c = createClassifier({ ctCapacity: 4096 });
    const l = layout;
    c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
    const results: Uint32Array[] = [];
    for (const stateful of [false, true, true]) {
      const out = new Uint32Array(count * OUT_WORDS);
      for (let r = 0; r < 3; r++) c.classifyBatch(pkts, count, out, stateful);
      results.push(out);
    }
    c.close();
    return results;
  }

  it('gives the same verdicts in two workers running at once as on the main thread', async () => {
    const want = expected();
    // the main thread keeps its own instance busy meanwhile
    const [a, b] = await Promise.all([
      runWorker({ addon, layout, pkts, count, rounds: 3, leak: false }),
      runWorker({ addon, layout, pkts, count, rounds: 3, leak: false }),
      Promise.resolve(expected()),
    ]);
    for (const r of [a, b]) {
      expect(r.results.length).toBe(3);
      r.results.forEach((out, k) => expect(Buffer.from(out.buffer).equals(Buffer.from(want[k]!.buffer)), `pass ${k}`).toBe(true));
      expect(r.stats.ctEntries).toBeGreaterThan(0);
    }
    // stateful passes differ from stateless ones: conntrack was really used
    expect(Buffer.from(want[2]!.buffer).equals(Buffer.from(want[0]!.buffer))).toBe(false);
  });

  it('survives workers that exit holding classifiers, again and again', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await runWorker({ addon, layout, pkts, count: 100, rounds: 1, leak: true });
      expect(r.results.length).toBe(3);
    }
  });
});
