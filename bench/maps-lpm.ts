/**
 * maps-lpm: ns/packet of the native maps classifier as one pod's ingress trie grows
 * (100, 10k, 100k entries). Stateless, so every packet runs the pod lookups, the LPM and
 * the port match. Prefixes come from the ClassBench acl_10k source CIDRs when readable
 * (lengths /8 and up, topped up with synthetic prefixes of the file's /21../32 mix), else
 * from a seeded random /8../32 mix. Half the remote addresses fall inside an entry, half
 * are checked to miss every entry.
 *
 * Run after tsc: node dist/bench/maps-lpm.js [--json FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, release } from 'node:os';
import type { LpmEntry, MapsPlan, PortEntry } from '../src/compile/plan.js';
import { PROTO_ANY } from '../src/compile/plan.js';
import { encodeMaps } from '../src/compile/layout.js';
import { OUT_WORDS, REASON_DENY_INGRESS, REASON_POLICY } from '../src/engines/engine.js';
import { createClassifier, type NativeClassifier } from '../src/engines/native.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { V4_MAPPED_BASE } from '../src/net/ip.js';
import { rngU32 } from './workloads.js';

const SIZES = [100, 10_000, 100_000];
const BATCH = 4096;
const PACKETS = 1 << 20;
const REPEATS = 5;
const CLASSBENCH = '/work/shared/data/classbench/acl_10k';
const POD_IP = '10.0.0.1';

interface V4Prefix { addr: number; len: number }

function v4str(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** source prefixes of the ClassBench file, or undefined when it is not readable */
function classbenchPrefixes(): V4Prefix[] | undefined {
  let text: string;
  try {
    text = readFileSync(CLASSBENCH, 'utf8');
  } catch {
    return undefined;
  }
  const seen = new Set<string>();
  const out: V4Prefix[] = [];
  for (const line of text.split('\n')) {
    const m = /^@(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)/.exec(line);
    if (!m) continue;
    const len = Number(m[5]);
    const addr = (((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) & mask(len)) >>> 0;
    const key = `${addr}/${len}`;
    if (len < 8 || seen.has(key)) continue;
    seen.add(key);
    out.push({ addr, len });
  }
  return out;
}

/** n distinct prefixes: the file's first, then synthetic ones of its length mix */
function prefixes(n: number, next: () => number): { list: V4Prefix[]; source: string } {
  const file = classbenchPrefixes();
  const lens = file ? file.map((p) => p.len).filter((l) => l >= 21) : [];
  const source = file ? 'classbench acl_10k' : 'seeded random /8../32';
  const seen = new Set<string>();
  const list: V4Prefix[] = [];
  const add = (p: V4Prefix) => {
    const key = `${p.addr}/${p.len}`;
    if (seen.has(key)) return;
    seen.add(key);
    list.push(p);
  };
  for (const p of file ?? []) {
    if (list.length >= n) break;
    add(p);
  }
  while (list.length < n) {
    const len = lens.length ? lens[next() % lens.length]! : 8 + (next() % 25);
    add({ addr: (next() & mask(len)) >>> 0, len });
  }
  return { list, source };
}

const VALUES: PortEntry[][] = [
  [{ proto: PROTO_ANY, start: 0, end: 65535 }],
  [{ proto: 6, start: 80, end: 80 }, { proto: 6, start: 443, end: 443 }],
  [{ proto: 6, start: 1000, end: 2000 }, { proto: 17, start: 53, end: 53 }],
];

function plan(list: V4Prefix[]): MapsPlan {
  const entries: LpmEntry[] = list
    .map((p, i) => ({ prefix: `${v4str(p.addr)}/${p.len}`, value: i % VALUES.length, rules: [0], addr: p.addr, len: p.len }))
    .sort((a, b) => a.addr - b.addr || a.len - b.len)
    .map(({ prefix, value, rules }) => ({ prefix, value, rules }));
  return {
    podState: [{ ip: POD_IP, pod: 0, ingress: 1, egress: 0 }],
    tries: [{ id: 0, pod: 0, dir: 'ingress', entries }],
    values: VALUES,
  };
}

/** one batch: half the sources inside a random entry, half checked to miss every entry */
function batch(c: NativeClassifier, list: V4Prefix[], next: () => number): { pkts: Uint8Array; hitRate: number } {
  const pkts = packetBatch(BATCH);
  const probe = packetBatch(1);
  const out = new Uint32Array(OUT_WORDS);
  const dst = V4_MAPPED_BASE | 0x0a000001n;
  const ports = [80, 443, 53, 1500, 8080];
  for (let i = 0; i < BATCH; i++) {
    const dport = ports[next() % ports.length]!;
    const proto = dport === 53 ? 17 : 6;
    let src: number;
    if (i % 2 === 0) {
      const p = list[next() % list.length]!;
      src = (p.addr | (next() & ~mask(p.len))) >>> 0;
    } else {
      for (let tries = 0; ; tries++) {
        src = next();
        writePacket(probe, 0, { src: V4_MAPPED_BASE | BigInt(src), dst, proto: 6, sport: 1, dport: 80 });
        c.classifyBatch(probe, 1, out, false);
        if (out[3] === 0xffffffff || tries > 64) break;
      }
    }
    writePacket(pkts, i, { src: V4_MAPPED_BASE | BigInt(src), dst, proto, sport: 40000 + (i % 20000), dport });
  }
  const res = new Uint32Array(BATCH * OUT_WORDS);
  c.classifyBatch(pkts, BATCH, res, false);
  let hits = 0;
  for (let i = 0; i < BATCH; i++) if (res[i * OUT_WORDS + 3] !== 0xffffffff) hits++;
  return { pkts, hitRate: hits / BATCH };
}

interface Result { entries: number; nsMedian: number; nsMin: number; nsMax: number; hitRate: number; allowRate: number; lpmBytes: number }

interface Setup { n: number; c: NativeClassifier; pkts: Uint8Array; out: Uint32Array; hitRate: number; ns: number[] }

function setup(n: number): Setup {
  const next = rngU32(0x9e3779b9 ^ n);
  const { list } = prefixes(n, next);
  const l = encodeMaps(plan(list));
  const c = createClassifier({ ctCapacity: 1024 });
  c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
  const { pkts, hitRate } = batch(c, list, next);
  return { n, c, pkts, out: new Uint32Array(BATCH * OUT_WORDS), hitRate, ns: [] };
}

/** one pass: PACKETS packets through one classifier, in ns/packet */
function pass(s: Setup): number {
  const calls = PACKETS / BATCH;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < calls; k++) s.c.classifyBatch(s.pkts, BATCH, s.out, false);
  return Number(process.hrtime.bigint() - t0) / PACKETS;
}

function result(s: Setup): Result {
  const ns = [...s.ns].sort((a, b) => a - b);
  let allowed = 0;
  for (let i = 0; i < BATCH; i++) {
    const reason = s.out[i * OUT_WORDS + 1];
    if (reason === REASON_POLICY) allowed++;
    else if (reason !== REASON_DENY_INGRESS) throw new Error(`unexpected reason ${reason}`);
  }
  return { entries: s.n, nsMedian: ns[ns.length >> 1]!, nsMin: ns[0]!, nsMax: ns[ns.length - 1]!, hitRate: s.hitRate, allowRate: allowed / BATCH, lpmBytes: s.c.stats().lpmBytes };
}

function main(): void {
  const { source } = prefixes(1, rngU32(1));
  console.log(`maps-lpm: ${PACKETS} packets per pass (batches of ${BATCH}), median of ${REPEATS}; prefixes: ${source}`);
  console.log(`node ${process.version}, ${arch()} ${cpus()[0]?.model ?? '?'}, kernel ${release()}`);
  const setups = SIZES.map(setup);
  for (const s of setups) pass(s); // warm up
  // the sizes take turns in every repeat, so that a slow spell of the machine hits them all
  for (let r = 0; r < REPEATS; r++) for (const s of setups) s.ns.push(pass(s));
  const results = setups.map(result);
  for (const s of setups) s.c.close();
  for (const r of results) {
    console.log(
      `entries=${String(r.entries).padStart(6)}  ns/packet=${r.nsMedian.toFixed(1).padStart(6)}  (min ${r.nsMin.toFixed(1)}, max ${r.nsMax.toFixed(1)})` +
        `  hit=${(r.hitRate * 100).toFixed(0)}%  allowed=${(r.allowRate * 100).toFixed(0)}%  lpm=${(r.lpmBytes / 1024).toFixed(0)} KiB`,
    );
  }
  const first = results[0]!, last = results[results.length - 1]!;
  const growth = last.nsMedian / first.nsMedian;
  console.log(`growth ${last.entries}/${first.entries}: ${growth.toFixed(2)}x`);
  const jsonAt = process.argv.indexOf('--json');
  if (jsonAt > 0 && process.argv[jsonAt + 1]) {
    const doc = { bench: 'maps-lpm', node: process.version, arch: arch(), cpu: cpus()[0]?.model, kernel: release(), prefixes: source, results, growth };
    writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify(doc, null, 2) + '\n');
  }
}

main();
