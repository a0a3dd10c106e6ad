/**
 * The `iptables` and `nft` engines: the compiled chains loaded into real netfilter (with
 * iptables-legacy-restore, or iptables-nft-restore, which loads them as nftables rules) in the
 * node namespace of a private testbed (../kernel/testbed.ts). Each packet record becomes a real
 * Ethernet frame, is forwarded through the node's FORWARD hook, and its verdict is what was
 * observed: ALLOW when it arrived in the dst namespace, DENY when it did not.
 *
 * Connection tracking is the kernel's own. Stateless engines put NOTRACK in the node's raw
 * table, so `--ctstate RELATED,ESTABLISHED` never matches, as in the chain engine without a
 * conntrack table. Stateful engines keep conntrack across batches; resetState() rebuilds the
 * testbed because there is no `conntrack -F` here to flush it.
 *
 * What decided a packet is not observed: refs are NO_REF and describe() says only whether the
 * packet was forwarded.
 *
 * Error contract: the constructor and classify throw PfsimError PFSIM_ERR_UNSUPPORTED when the
 * kernel, a tool or the testbed fails ("iptables: load ipv4 rules: <message>").
 */
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PfsimError, wrapError } from '../errors.js';
import type { Plan } from '../compile/plan.js';
import { renderIptables } from '../compile/iptables.js';
import { frame, ipPacket, LINKTYPE_ETHERNET, type TransportProto } from '../capture/frames.js';
import { MAC_NODE_IN, MAC_SRC, MAX_FRAMES_PER_RUN, pktioHelper, runSync, Testbed, writeObserved } from '../kernel/testbed.js';
import {
  type Engine, type EngineOptions, OUT_WORDS, VERDICT_ALLOW,
} from './engine.js';
import { PKT_BYTES, PKT_F_ACK, PKT_F_SYN, readPacket } from './packet.js';

export type NetfilterBackend = 'legacy' | 'nft';

/** Finds an executable on PATH or in the sbin folders a non-login root shell may lack. */
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

interface Tools { readonly restore4: string; readonly restore6: string }

function tools(backend: NetfilterBackend): Tools | string {
  const r4 = `iptables-${backend}-restore`, r6 = `ip6tables-${backend}-restore`;
  const restore4 = findExecutable(r4), restore6 = findExecutable(r6);
  if (!restore4) return `${r4} not installed`;
  if (!restore6) return `${r6} not installed`;
  return { restore4, restore6 };
}

const availability = new Map<NetfilterBackend, { ok: true } | { ok: false; reason: string }>();

/**
 * Whether the engine on `backend` runs here: root, `ip netns`, the backend's restore tools,
 * the pfsim-pktio helper (built with cc on first use), and a probe testbed that takes an empty
 * ruleset. Probed once per process; the probe testbed is removed at once.
 */
export function netfilterAvailability(backend: NetfilterBackend): { ok: true } | { ok: false; reason: string } {
  let a = availability.get(backend);
  if (!a) { a = probe(backend); availability.set(backend, a); }
  return a;
}

function probe(backend: NetfilterBackend): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux (this is ${process.platform})` };
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `needs root (uid ${uid ?? 'unknown'})` };
  if (runSync('ip', ['-V']).code !== 0) return { ok: false, reason: 'ip (iproute2) not runnable' };
  const t = tools(backend);
  if (typeof t === 'string') return { ok: false, reason: t };
  let tb: Testbed | undefined;
  try {
    pktioHelper();
    tb = new Testbed();
    for (const tool of [t.restore4, t.restore6]) {
      const r = tb.execNode(tool, [], '*filter\nCOMMIT\n');
      if (r.code !== 0) return { ok: false, reason: `${tool} unusable: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}` };
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    tb?.close();
  }
}

const NOTRACK = '*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j NOTRACK\nCOMMIT\n';

function transportOf(proto: number): TransportProto | undefined {
  switch (proto) {
    case 6: return 'TCP';
    case 17: return 'UDP';
    case 132: return 'SCTP';
    case 1: case 58: return 'ICMP';
    default: return undefined;
  }
}

/**
 * The Ethernet frame for packet record `i`, addressed to the testbed's node (MAC_NODE_IN).
 * TCP frames carry one sequence space per connection: SYN 1000, SYN-ACK 5000 acking it, then
 * ACKs. Throws PfsimError PFSIM_ERR_UNSUPPORTED ("<label>: packet i: ...") for a protocol
 * that cannot be put on the wire.
 */
export function testbedFrame(pkts: Uint8Array, i: number, label: string): Uint8Array {
  const p = readPacket(pkts, i);
  const proto = transportOf(p.proto);
  if (proto === undefined) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${label}: packet ${i}: protocol ${p.proto} cannot be put on the wire`);
  const flags = p.flags ?? 0;
  const synAck = (flags & (PKT_F_SYN | PKT_F_ACK)) === (PKT_F_SYN | PKT_F_ACK);
  const seq = synAck ? 5000 : flags & PKT_F_SYN ? 1000 : 1001;
  const ack = synAck ? 1001 : flags & PKT_F_ACK ? 5001 : 0;
  const ip = ipPacket({
    src: p.src, dst: p.dst, proto, sport: p.sport, dport: p.dport,
    tcpFlags: flags, seq, ack, ttl: 64,
  });
  return frame(LINKTYPE_ETHERNET, ip, { srcMac: MAC_SRC, dstMac: MAC_NODE_IN });
}

abstract class NetfilterEngine implements Engine {
  abstract readonly name: 'iptables' | 'nft';
  private testbed: Testbed | undefined;
  /** send time of testbeds already closed by resetState() */
  private spentNs = 0;
  private readonly tools: Tools;

  constructor(private readonly backend: NetfilterBackend, private plan: Plan, private readonly opts: EngineOptions) {
    const a = netfilterAvailability(backend);
    if (!a.ok) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${this.label}: unavailable: ${a.reason}`);
    this.tools = tools(backend) as Tools;
    this.testbed = this.build();
  }

  private get label(): string {
    return this.backend === 'legacy' ? 'iptables' : 'nft';
  }

  /** A fresh testbed with the plan loaded into its node namespace. */
  private build(): Testbed {
    const tb = new Testbed();
    try {
      const extra = this.opts.stateful ? '' : NOTRACK;
      // the rulesets go through files: a large plan is far over the argument size limit
      const dir = mkdtempSync(join(tmpdir(), 'pfsim-rules-'));
      const load = (tool: string, rules: string, family: number) => {
        const f = join(dir, `ipv${family}.rules`);
        writeFileSync(f, `${rules}${extra}`);
        return `${tool} < '${f}' || { echo "load ipv${family} rules: ${tool} failed" >&2; exit 1; }`;
      };
      // one shell for both loads: a spawn from Node costs ~20 ms.
      // The frames carry made-up sequence numbers: window tracking would call replies INVALID.
      // The sysctl exists once the rules pulled in conntrack; without it there is no state.
      const script = [
        load(this.tools.restore4, renderIptables(this.plan.chain.ipv4), 4),
        load(this.tools.restore6, renderIptables(this.plan.chain.ipv6), 6),
        'f=/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal; [ ! -e $f ] || echo 1 > $f',
        '',
      ].join('\n');
      let r;
      try {
        r = tb.execNode('sh', ['-c', script]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      if (r.code !== 0) {
        const lines = r.stderr.trim().split('\n');
        throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${lines[lines.length - 1]}: ${lines[0] ?? `exit ${r.code}`}`);
      }
      return tb;
    } catch (err) {
      tb.close();
      throw wrapError(this.label, err);
    }
  }

  classify(pkts: Uint8Array, count: number, out: Uint32Array): void {
    if (pkts.length < count * PKT_BYTES || out.length < count * OUT_WORDS) throw new RangeError('batch arrays too small');
    const tb = this.testbed;
    if (!tb) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${this.label}: engine is closed`);
    for (let start = 0; start < count; start += MAX_FRAMES_PER_RUN) {
      const n = Math.min(MAX_FRAMES_PER_RUN, count - start);
      const frames: Uint8Array[] = new Array(n);
      for (let k = 0; k < n; k++) frames[k] = this.frameOf(pkts, start + k);
      writeObserved(tb, frames, this.label, out, start);
    }
  }

  /**
   * Feeds `rules` (restore input for IPv`family`) to this backend's restore tool in the node
   * namespace, with --noflush when asked: a controller applying a policy change (a delta of
   * src/compile/delta.ts) or reloading. `plan` is what the tables implement afterwards (what
   * resetState() rebuilds). Returns the tool's run, fork to exit, in ms, timed inside the
   * namespace by bash's $EPOCHREALTIME so entering the namespace is not counted. Throws
   * PfsimError PFSIM_ERR_UNSUPPORTED with the tool's first error line.
   */
  restore(family: 4 | 6, rules: string, opts: { readonly noflush: boolean; readonly plan: Plan }): number {
    const tb = this.testbed;
    if (!tb) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${this.label}: engine is closed`);
    const tool = family === 4 ? this.tools.restore4 : this.tools.restore6;
    const dir = mkdtempSync(join(tmpdir(), 'pfsim-rules-'));
    let r;
    try {
      const file = join(dir, `ipv${family}.rules`);
      writeFileSync(file, rules);
      const script = `t0=$EPOCHREALTIME; "$0" ${opts.noflush ? '--noflush ' : ''}< "$1"; rc=$?; t1=$EPOCHREALTIME; echo "$t0 $t1"; exit $rc`;
      r = tb.execNode('bash', ['-c', script, tool, file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (r.code !== 0) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${this.label}: restore ipv${family} rules: ${r.stderr.trim().split('\n')[0] || `exit ${r.code}`}`);
    this.plan = opts.plan;
    // whole microseconds as integers: seconds since 1970 as a double would blur them
    const [t0, t1] = r.stdout.trim().split('\n').pop()!.split(' ').map((t) => Number(t.replace(/[.,]/, '')));
    if (!Number.isFinite(t0) || !Number.isFinite(t1)) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${this.label}: restore: bash without $EPOCHREALTIME (needs bash 5)`);
    return (t1! - t0!) / 1000;
  }

  /** The Ethernet frame for packet record `i`, addressed to the node. */
  private frameOf(pkts: Uint8Array, i: number): Uint8Array {
    return testbedFrame(pkts, i, this.label);
  }

  describe(_pkts: Uint8Array, out: Uint32Array, i: number): string {
    const tool = `iptables-${this.backend}`;
    return out[i * OUT_WORDS] === VERDICT_ALLOW ? `forwarded by ${tool} (observed)` : `dropped by ${tool} (observed: did not arrive)`;
  }

  resetState(): void {
    if (!this.opts.stateful || !this.testbed) return;
    this.spentNs += this.testbed.sendNs;
    this.testbed.close();
    this.testbed = undefined;
    this.testbed = this.build();
  }

  /** ns the kernel has spent on this engine's packets in the testbed so far (see Testbed.sendNs) */
  kernelNs(): number {
    return this.spentNs + (this.testbed?.sendNs ?? 0);
  }

  close(): void {
    this.testbed?.close();
    this.testbed = undefined;
  }
}

/** Real netfilter through iptables-legacy (x_tables). */
export class IptablesEngine extends NetfilterEngine {
  readonly name = 'iptables' as const;
  constructor(plan: Plan, opts: EngineOptions) {
    super('legacy', plan, opts);
  }
}

/** Real netfilter through iptables-nft (the same rules as nftables expressions). */
export class NftEngine extends NetfilterEngine {
  readonly name = 'nft' as const;
  constructor(plan: Plan, opts: EngineOptions) {
    super('nft', plan, opts);
  }
}
