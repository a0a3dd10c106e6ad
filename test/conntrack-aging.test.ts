/**
 * Conntrack ages by trace time and has a size limit, like netfilter's (src/engines/conntrack.ts
 * documents the model). The chain (JS table), maps (native table) and aws engines are held to
 * an independent reference written here: a Map keyed by the canonical tuple with each entry's
 * expiry and state. The timeouts are typed in as netfilter's documented defaults, not imported,
 * so a wrong constant in either table fails here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import type { Plan } from '../src/compile/plan.js';
import { createEngine } from '../src/engines/index.js';
import { type Engine, type EngineName, OUT_WORDS, REASON_CT_FULL, REASON_ESTABLISHED, verdictName } from '../src/engines/engine.js';
import { packetBatch, writePacket, PKT_F_ACK, PKT_F_FIN, PKT_F_RST, PKT_F_SYN, type PacketHeader } from '../src/engines/packet.js';
import type { AwsEngine } from '../src/engines/aws.js';
import type { ChainEngine } from '../src/engines/chain.js';
import type { MapsEngine } from '../src/engines/maps.js';
import { parseIp } from '../src/net/ip.js';

// the client may send anything to the server; nothing may reach the client unless it answers
// a connection the client opened (the client is ingress-isolated, allowing nobody)
const YAML = `apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, labels: {app: server}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-in, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-closed, namespace: default}
spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Ingress]}
`;
const plan: Plan = compile(clusterFromText('t.yaml', YAML));
const S = parseIp('10.0.0.1')!, C = parseIp('10.0.0.2')!;
const BASE = 1_700_000_000; // trace seconds of a 2023 capture

const SYN = PKT_F_SYN, ACK = PKT_F_ACK, SYNACK = PKT_F_SYN | PKT_F_ACK, FIN = PKT_F_FIN | PKT_F_ACK, RST = PKT_F_RST;
const c2s = (flags: number, sport = 40000, proto = 6, dport = 80): PacketHeader => ({ src: C, dst: S, proto, sport, dport, flags });
const s2c = (flags: number, dport = 40000, proto = 6, sport = 80): PacketHeader => ({ src: S, dst: C, proto, sport, dport, flags });

interface Step { readonly p: PacketHeader; readonly t: number }
type Outcome = 'new' | 'established' | 'denied' | 'full';

// ---- the reference -------------------------------------------------------------------------

/** netfilter's default timeouts (nf_conntrack_proto_*.c, kernel 6.1), seconds */
const TIMEOUT = { synSent: 120, synRecv: 60, established: 5 * 24 * 3600, closing: 120, close: 10, pickup: 300, udp: 30, udpStream: 120, icmp: 30, generic: 600 };

interface RefEntry { expires: number; replied: boolean; assured: boolean; closing: boolean; orig: string; order: number }

class RefConntrack {
  private readonly entries = new Map<string, RefEntry>();
  private now = -1;
  private order = 0;
  constructor(private readonly max: number) {}

  judge(s: Step): Outcome {
    const p = s.p;
    this.now = Math.max(this.now, s.t);
    const a = `${p.src}:${p.sport}`, b = `${p.dst}:${p.dport}`;
    const key = `${p.proto}|${[a, b].sort().join('|')}`;
    let e = this.entries.get(key);
    if (e && e.expires <= this.now) { this.entries.delete(key); e = undefined; }
    const flags = p.flags ?? 0;
    if (e && p.proto === 6 && e.closing && (flags & (SYN | ACK)) === SYN) { this.entries.delete(key); e = undefined; }
    if (e) {
      this.update(key, e, p, a !== e.orig);
      return 'established';
    }
    if (p.src !== C) return 'denied'; // the policy: only the client's packets are allowed fresh
    if (!opens(p)) return 'new';
    if (!this.room()) return 'full';
    e = { expires: 0, replied: false, assured: false, closing: false, orig: a, order: this.order++ };
    this.entries.set(key, e);
    this.update(key, e, p, false);
    return 'new';
  }

  private room(): boolean {
    for (const [k, e] of this.entries) if (e.expires <= this.now) this.entries.delete(k);
    if (this.entries.size < this.max) return true;
    let oldest: [string, RefEntry] | undefined;
    for (const kv of this.entries) if (!kv[1].assured && (!oldest || kv[1].order < oldest[1].order)) oldest = kv;
    if (!oldest) return false;
    this.entries.delete(oldest[0]);
    return true;
  }

  private update(key: string, e: RefEntry, p: PacketHeader, reply: boolean): void {
    const f = p.flags ?? 0;
    let timeout: number;
    if (p.proto === 6) {
      if (f & RST) {
        if (!e.replied) { this.entries.delete(key); return; }
        e.closing = true;
        e.expires = this.now + TIMEOUT.close;
        return;
      }
      e.replied ||= reply;
      e.closing ||= (f & PKT_F_FIN) !== 0;
      e.assured ||= e.replied && !(f & SYN);
      if (e.closing) timeout = TIMEOUT.closing;
      else if (e.assured) timeout = TIMEOUT.established;
      else if (f & SYN) timeout = e.replied ? TIMEOUT.synRecv : TIMEOUT.synSent;
      else timeout = TIMEOUT.pickup;
    } else if (p.proto === 17) {
      if (reply) { e.replied = true; e.assured = true; }
      timeout = e.replied ? TIMEOUT.udpStream : TIMEOUT.udp;
    } else if (p.proto === 1) {
      timeout = TIMEOUT.icmp;
    } else {
      timeout = TIMEOUT.generic;
    }
    e.expires = this.now + timeout;
  }
}

/** netfilter with loose pickup opens on a SYN or a plain ACK; other protocols on any packet */
function opens(p: PacketHeader): boolean {
  if (p.proto !== 6) return true;
  const f = p.flags ?? 0;
  if (f & (PKT_F_FIN | RST)) return false;
  return (f & SYN) !== 0 ? (f & ACK) === 0 : (f & ACK) !== 0;
}

// ---- the engines ---------------------------------------------------------------------------

const TABLE_ENGINES = ['chain', 'maps', 'aws'] as const;

/** Judges the steps in one batch (times from the steps); outcome per packet. */
function judge(e: Engine, steps: readonly Step[]): Outcome[] {
  const pkts = packetBatch(steps.length), times = new Uint32Array(steps.length);
  steps.forEach((s, i) => { writePacket(pkts, i, s.p); times[i] = s.t; });
  const out = new Uint32Array(steps.length * OUT_WORDS);
  e.classify(pkts, steps.length, out, undefined, times);
  return steps.map((_, i) => {
    const reason = out[i * OUT_WORDS + 1]! & 0xff;
    if (verdictName(out[i * OUT_WORDS]!) === 'deny') return reason === REASON_CT_FULL ? 'full' : 'denied';
    return reason === REASON_ESTABLISHED ? 'established' : 'new';
  });
}

function run(name: EngineName, steps: readonly Step[], ctMax?: number): Outcome[] {
  const e = createEngine(name, plan, { stateful: true, ...(ctMax === undefined ? {} : { ctMax }) });
  try {
    return judge(e, steps);
  } finally {
    e.close();
  }
}

/**
 * What an engine's outcomes must equal: the reference's. For aws, the verdicts only: the
 * agent's per-pod entries (one may stay half-open from a packet the other pod dropped) can
 * make an allowed packet "established" where Kubernetes calls it new.
 */
function expectLike(name: EngineName, got: Outcome[], want: Outcome[]): void {
  const verdicts = (o: Outcome[]) => o.map((x) => (x === 'denied' || x === 'full' ? 'deny' : 'allow'));
  if (name === 'aws') expect(verdicts(got)).toEqual(verdicts(want));
  else expect(got).toEqual(want);
}

const reference = (steps: readonly Step[], max = 1 << 20): Outcome[] => {
  const r = new RefConntrack(max);
  return steps.map((s) => r.judge(s));
};

const at = (t: number, ...ps: PacketHeader[]): Step[] => ps.map((p) => ({ p, t: BASE + t }));

// ---- expiry per state ----------------------------------------------------------------------

interface StateCase {
  readonly name: string;
  /** packets that leave the connection in the state, the last at second `last` */
  readonly setup: Step[];
  readonly last: number;
  /** a packet the client is refused unless the connection is still tracked */
  readonly probe: PacketHeader;
  readonly timeout: number;
}

const HANDSHAKE = [...at(0, c2s(SYN)), ...at(1, s2c(SYNACK)), ...at(2, c2s(ACK))];
const STATES: StateCase[] = [
  { name: 'TCP SYN_SENT', setup: at(0, c2s(SYN)), last: 0, probe: s2c(SYNACK), timeout: 120 },
  { name: 'TCP SYN_RECV', setup: [...at(0, c2s(SYN)), ...at(5, s2c(SYNACK))], last: 5, probe: s2c(SYNACK), timeout: 60 },
  { name: 'TCP ESTABLISHED (assured)', setup: HANDSHAKE, last: 2, probe: s2c(ACK), timeout: 432000 },
  { name: 'TCP picked up mid-stream, no reply', setup: at(0, c2s(ACK)), last: 0, probe: s2c(ACK), timeout: 300 },
  { name: 'TCP after a FIN', setup: [...HANDSHAKE, ...at(10, c2s(FIN))], last: 10, probe: s2c(ACK), timeout: 120 },
  { name: 'TCP after an RST (replied)', setup: [...HANDSHAKE, ...at(10, c2s(RST))], last: 10, probe: s2c(ACK), timeout: 10 },
  { name: 'UDP unreplied', setup: at(0, c2s(0, 5000, 17, 53)), last: 0, probe: s2c(0, 5000, 17, 53), timeout: 30 },
  { name: 'UDP replied (stream)', setup: [...at(0, c2s(0, 5000, 17, 53)), ...at(3, s2c(0, 5000, 17, 53))], last: 3, probe: s2c(0, 5000, 17, 53), timeout: 120 },
  { name: 'ICMP', setup: at(0, c2s(0, 0, 1, 0)), last: 0, probe: s2c(0, 0, 1, 0), timeout: 30 },
  { name: 'generic (GRE)', setup: at(0, c2s(0, 0, 47, 0)), last: 0, probe: s2c(0, 0, 47, 0), timeout: 600 },
];

describe('conntrack expiry by trace time', () => {
  for (const c of STATES) {
    for (const name of TABLE_ENGINES) {
      it(`${name}: ${c.name} lives ${c.timeout} s after its last packet`, () => {
        const alive = [...c.setup, ...at(c.last + c.timeout - 1, c.probe)];
        const gone = [...c.setup, ...at(c.last + c.timeout, c.probe)];
        expect(reference(alive).at(-1)).toBe('established');
        expect(reference(gone).at(-1)).toBe('denied');
        expectLike(name, run(name, alive), reference(alive));
        expectLike(name, run(name, gone), reference(gone));
      });
    }
  }

  for (const name of TABLE_ENGINES) {
    it(`${name}: an RST before any reply ends the entry at once`, () => {
      const steps = [...at(0, c2s(SYN)), ...at(1, c2s(RST)), ...at(2, s2c(SYNACK))];
      expect(reference(steps)).toEqual(['new', 'established', 'denied']);
      expectLike(name, run(name, steps), reference(steps));
    });

    it(`${name}: after expiry a plain ACK is a mid-stream pickup again`, () => {
      const steps = [...HANDSHAKE, ...at(2 + 432000, s2c(ACK), c2s(ACK), s2c(ACK))];
      expect(reference(steps).slice(3)).toEqual(['denied', 'new', 'established']);
      expectLike(name, run(name, steps), reference(steps));
    });

    it(`${name}: a SYN on a closing connection is judged as a new connection`, () => {
      const steps = [...HANDSHAKE, ...at(5, c2s(FIN), s2c(FIN), c2s(ACK)), ...at(6, s2c(SYN), c2s(SYN), s2c(SYNACK))];
      expect(reference(steps).slice(6)).toEqual(['denied', 'new', 'established']);
      expectLike(name, run(name, steps), reference(steps));
    });

    it(`${name}: without times nothing expires`, () => {
      const e = createEngine(name, plan, { stateful: true });
      try {
        const pkts = packetBatch(2), out = new Uint32Array(2 * OUT_WORDS);
        writePacket(pkts, 0, c2s(SYN));
        writePacket(pkts, 1, s2c(SYNACK));
        e.classify(pkts, 1, out, undefined, new Uint32Array([BASE]));
        e.classify(pkts.subarray(40), 1, out); // no times: the clock stays at BASE
        expect(out[1]! & 0xff).toBe(REASON_ESTABLISHED);
      } finally {
        e.close();
      }
    });
  }

  it('the clock never runs backwards: an older packet time does not revive an expired entry', () => {
    const steps = [...at(0, c2s(SYN)), ...at(200, c2s(0, 1, 17, 1)), ...at(100, s2c(SYNACK))];
    expect(reference(steps).at(-1)).toBe('denied');
    for (const name of TABLE_ENGINES) expectLike(name, run(name, steps), reference(steps));
  });
});

// ---- the size limit ------------------------------------------------------------------------

const conn = (i: number) => ({ syn: c2s(SYN, 41000 + i), synack: s2c(SYNACK, 41000 + i), ack: c2s(ACK, 41000 + i) });

describe('conntrack size limit (nf_conntrack_max)', () => {
  for (const name of ['chain', 'maps'] as const) {
    it(`${name}: a full table drops its oldest unassured entry for a new connection`, () => {
      const steps = [...at(0, ...[0, 1, 2, 3, 4].map((i) => conn(i).syn)), ...at(1, conn(0).synack, conn(1).synack)];
      const want = reference(steps, 4);
      expect(want).toEqual(['new', 'new', 'new', 'new', 'new', 'denied', 'established']);
      expect(run(name, steps, 4)).toEqual(want);
    });

    it(`${name}: full of assured entries, a new connection is dropped and counted, until one expires`, () => {
      const setup = [0, 1, 2, 3].flatMap((i) => at(i, conn(i).syn, conn(i).synack, conn(i).ack));
      const steps = [...setup, ...at(10, conn(4).syn, c2s(FIN, 41000)), ...at(129, conn(5).syn), ...at(130, conn(6).syn)];
      const want = reference(steps, 4);
      expect(want.slice(12)).toEqual(['full', 'established', 'full', 'new']);
      const e = createEngine(name, plan, { stateful: true, ctMax: 4 });
      try {
        expect(judge(e, steps)).toEqual(want);
        const stats = name === 'chain' ? (e as ChainEngine).ctStats! : (e as MapsEngine).ctStats;
        const failed = 'insertFailed' in stats ? stats.insertFailed : stats.ctInsertFailed;
        expect(failed).toBe(2);
        expect(e.describe(packetBatch(1), new Uint32Array([2, REASON_CT_FULL, 0, 0]), 0)).toMatch(/conntrack table full/);
      } finally {
        e.close();
      }
    });
  }

  it('aws: a full agent map refuses the key and the packet passes untracked (counted)', () => {
    // two entries per connection here (the client's egress program and the server's ingress one)
    const setup = [0, 1].flatMap((i) => at(i, conn(i).syn, conn(i).synack, conn(i).ack));
    const steps = [...setup, ...at(5, conn(2).syn, conn(2).synack)];
    const e = createEngine('aws', plan, { stateful: true, ctMax: 4 });
    try {
      expect(judge(e, steps).slice(6)).toEqual(['new', 'denied']);
      expect((e as AwsEngine).ctInsertFailed).toBeGreaterThan(0);
    } finally {
      e.close();
    }
  });

  it('refuses a bad --ct-max', async () => {
    const { parseCtMax } = await import('../src/engines/conntrack.js');
    expect(parseCtMax('1000')).toBe(1000);
    for (const bad of ['0', '-1', 'x', '1.5', String(2 ** 28)]) expect(() => parseCtMax(bad)).toThrow(/--ct-max/);
  });
});

// ---- random sequences against the reference -------------------------------------------------

const PROTOS = [6, 6, 6, 17, 1, 47];
const TCP_FLAGS = [SYN, SYNACK, ACK, FIN, RST, 0];
const GAPS = [0, 0, 1, 5, 29, 30, 59, 60, 119, 120, 299, 300, 599, 600, 432000];

const stepArb = fc.record({
  conn: fc.integer({ min: 0, max: 5 }),
  toServer: fc.boolean(),
  flags: fc.constantFrom(...TCP_FLAGS),
  gap: fc.constantFrom(...GAPS),
});

/** steps from random draws: connection i uses protocol PROTOS[i] and client port 42000 + i */
function stepsOf(draws: { conn: number; toServer: boolean; flags: number; gap: number }[]): Step[] {
  let t = BASE;
  return draws.map((d) => {
    t += d.gap;
    const proto = PROTOS[d.conn]!, port = proto === 6 || proto === 17 ? 42000 + d.conn : 0, sport = proto === 6 || proto === 17 ? 80 : 0;
    const flags = proto === 6 ? d.flags : 0;
    const p = d.toServer ? c2s(flags, port, proto, sport) : s2c(flags, port, proto, sport);
    return { p, t };
  });
}

describe('conntrack tables against the reference (random sequences)', () => {
  it('chain (JS table) and maps (native table) judge every packet as the reference, at any limit', () => {
    fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 7 }), (draws, max) => {
      const steps = stepsOf(draws);
      const want = reference(steps, max);
      expect(run('chain', steps, max)).toEqual(want);
      expect(run('maps', steps, max)).toEqual(want);
    }), { numRuns: 300 });
  });

  it('aws judges as the reference wherever it does not depart from Kubernetes', () => {
    fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 60 }), (draws) => {
      const steps = stepsOf(draws);
      const want = reference(steps);
      const e = createEngine('aws', plan, { stateful: true });
      try {
        const pkts = packetBatch(steps.length), times = new Uint32Array(steps.length);
        steps.forEach((s, i) => { writePacket(pkts, i, s.p); times[i] = s.t; });
        const out = new Uint32Array(steps.length * OUT_WORDS);
        e.classify(pkts, steps.length, out, undefined, times);
        steps.forEach((_, i) => {
          if (e.departure!(out, i) !== undefined) return;
          expect(verdictName(out[i * OUT_WORDS]!)).toBe(want[i] === 'denied' ? 'deny' : 'allow');
        });
      } finally {
        e.close();
      }
    }), { numRuns: 150 });
  });

  it('the JS table stays bounded by live connections over a long trace of short ones', () => {
    // 20k short TCP connections, one a second: each lives 120 s after its last FIN
    const e = createEngine('chain', plan, { stateful: true }) as ChainEngine;
    try {
      const n = 20000, per = 4;
      const pkts = packetBatch(n * per), times = new Uint32Array(n * per);
      for (let i = 0; i < n; i++) {
        const port = 1024 + i;
        [c2s(SYN, port), s2c(SYNACK, port), c2s(FIN, port), s2c(FIN, port)].forEach((p, k) => {
          writePacket(pkts, i * per + k, p);
          times[i * per + k] = BASE + i;
        });
      }
      const out = new Uint32Array(n * per * OUT_WORDS);
      e.classify(pkts, n * per, out, undefined, times);
      const st = e.ctStats!;
      // growing sweeps first: the table never holds much more than its first 4096 slots' worth
      expect(st.entries).toBeLessThanOrEqual(3584);
      expect(st.expired + st.entries).toBe(n);
      expect(st.insertFailed + st.earlyDrops).toBe(0);
    } finally {
      e.close();
    }
  });
});
